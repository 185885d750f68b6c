"""Risk rules and account figures (SPEC §6a): `account_settings` and `equity_snapshots`.

`account_settings` is one row (id 1): the account's own risk rules and the kill switch, which
until now lived in the audit log. `equity_snapshots` holds each quote currency's equity on
every fill and every hour (drawdown and the day's loss are read from it). The rows already
stored are carried over by `db.risk_migration.move_data`: every bot's `risk` is rewritten onto
the §6a keys (known aliases renamed, values that are no rule dropped), and a kill switch that was
on stays on, with the bots it paused kept for the first resume. Downgrading drops both tables
(the bots' rewritten `risk` stays as it is: the older version only showed it).
"""

from tortoise import BaseDBAsyncClient

from db.risk_migration import move_data

RUN_IN_TRANSACTION = True

SCHEMA = """
CREATE TABLE IF NOT EXISTS "account_settings" (
    "id" INT NOT NULL PRIMARY KEY,
    "risk" JSON NOT NULL,
    "kill_switch" INT NOT NULL,
    "kill_switch_by" VARCHAR(128) NOT NULL,
    "kill_switch_since" TIMESTAMP,
    "kill_switch_reason" TEXT NOT NULL,
    "kill_switch_rule" VARCHAR(32),
    "legacy_paused" JSON NOT NULL
) /* The account's own risk rules and the kill switch (SPEC §6a): one row, id 1. */;
        CREATE TABLE IF NOT EXISTS "equity_snapshots" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "quote" VARCHAR(16) NOT NULL,
    "at" TIMESTAMP NOT NULL,
    "equity" VARCHAR(40) NOT NULL,
    "balance" VARCHAR(40) NOT NULL,
    "realized" VARCHAR(40) NOT NULL,
    "unrealized" VARCHAR(40) NOT NULL,
    "open_notional" VARCHAR(40) NOT NULL,
    "open_positions" INT NOT NULL,
    "cause" VARCHAR(8) NOT NULL
) /* A quote currency's equity at one moment, taken on every fill, every hour and at start. */;
CREATE INDEX IF NOT EXISTS "idx_equity_snap_quote_d79f53" ON "equity_snapshots" ("quote", "at");"""


async def upgrade(db: BaseDBAsyncClient) -> str:
    await db.execute_script(SCHEMA)  # the tables first: `move_data` writes into them
    await move_data(db, "sqlite")
    return "SELECT 1;"  # aerich runs what this returns, and asyncpg refuses an empty script


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "equity_snapshots";
        DROP TABLE IF EXISTS "account_settings";"""


MODELS_STATE = (
    "eJztXW1z2za2/isYf6k9o+uxndjJJnfujO24rbeOnbGdbWfrDgWRkMQrimBJyIq6m/++OO"
    "CL+C5CpmiSi09xSDwA9QA8PDhv+NfenBrE8g7PdZ0ubPZAGDPtibf3Af1rz8Zzwv8oajJA"
    "e9hx1g3gAsMjS2Cw31jz4q1HHnOxzvj9MbY8wi8ZxNNd02EmtQH1OCUoQP7gIbq0kWt6M+"
    "QuLOIhbBuI8QYz07KQtzSZPkX7D1+uLtHT4ugIvzvDBx8QtQly6XKATAMdH8KoBtX5sPwZ"
    "djHAk/1kD6GLITI9NLznf91DX4eMav/vUXuI6Fj0uR7UH2sfoxENnwG7BJk2MhnvQnR2wD"
    "t+TD2Jx6jjIWLz38Lx1LZWH9EQGmh+Aw06HiKYNE8MCf/nf2CGOMRxiMEHeLL3h3P8TTNc"
    "vDT40MODAbqFn7ScEv4cNjwOcRFbuLZoz8c5REOLTLC+0hy88Igx/ABPztlKPB0dP9kjMq"
    "YuEWMvnImLDYJ8CNrnPQV/LqeUPxb0wId2ibeY84ujlUCNTddjwUWEx4w/icnEJC5s888F"
    "0RidEN7Q5VP5+x/8smkb5Bvxwv86M21sEstIrF7TgA7EdY2tHHHt2mY/ioawPkaaTq3F3F"
    "43dlZsSu2otWkzuDohnBrMiBFbv/bCsoIlH17yH5VfYO6CRM9orC8YZIwXFrwFgPafYH1t"
    "T9Nu7x61h6tHTdvLvCEhIramg0s6teHt4s/qv7wTeIT/OTl+++7t+zdnb9/zJuIxoyvvvv"
    "tDr5nxgYKf28e97+I+ZthvIUheswrLNMvr3x/ubvOJDdunqDVMnaF/I8v0tqI4vLDmeC1Y"
    "IkL/d7ywdeAPjRamxaWRdwjD/t/ejqgv4RX4gZ7nnvenBRdu/3F+f/nz+f3+5/PfDuAO5Q"
    "LSl6C3lzd3F4Iy6rGJK3oRHVyIqVlPRUwGZGfkgvLXDdv5k5JCpuZmxKG7mpToSrP8X9zd"
    "3ST4v7h+TLH+9fPF1f3+sZgM3shkJP5C5LKujVZZ4i+n2N3IeoBMEc9/zM5ehl0t+j34ql"
    "jEnrAp/+/xyfuSWQjXPG+VXvPBrRP/XjHjnmnrJEv6J04XM+dkM/FRB2mBFPRwGP5RYSYC"
    "uS41ETsU/SXMP15/vnp4PP/8JfESfDp/vII7J+LqKnV1/yw1SVEn6Nfrx58R/Bf98+72Ki"
    "2ronaP/9yDZ8ILrhTZdKlhI85JeDm8VDjnLsFco8pO+iP5VvA1z0f34G0rm+Kr3x7LPzHR"
    "DN/c3f4UNk9/d4pfPVArtxV3IXarKWjZa5aUeG9OKgi8NyeF8g5uJTlPKN0yqlYG2A6dC8"
    "brtM4FO4zxLKYNw4UR1mdL7Bpa5g49oUVts7fmJ/P0FWzjiaAXfjH8vnAbvjBMdkMne3lb"
    "9PDeoHRvDq00K2i2aVNePAdt25QFAuK/dk/GZ5G6MqI5AjT3SWxMIJ+9rSCQz94WCmS4lR"
    "TIWAg0SX7NpnWODhPMsMsliQzBa0QPlLoGtlB0wXQ6l1LfYpAeLuLjsyokp3dAMY7P0hQb"
    "hGHT/+BWVdhikHaoar0yj+l858cp03COZCm3FySRNRgKKkxQo/oI/33GnW2tgnE7YjgIKM"
    "rYDVqin19Q9sU1dbKXo59H90r18xFlmgPNJLxmFvYYEiBEsD6NO5cs4jIP6dh1TWIgh7jI"
    "W81HlC+I5dQE1w1fAcL35HuY+FDg9cl1ndU+CvjPYh620w/ggxJ98X79geb0OXBoCeQA+R"
    "/9wF3HV7PFHzDolY7FEPBA/NHEmE/2PrYp7E+CpxW9I5s88yu6RT3e+dy0ycFHPpJtcoXY"
    "A1+cj3BcymcBmsCrAv4wfpUcIs7Fk02+6VNsT0j4pF74U+GJEfS/CoYMHjxw8w1NeAsXc8"
    "Jfw2GRd+t3WAXCBi1Y3PtD7axecWcVTIKE2rRG9FBrqt/Y5YRSMfV9Jro5x1Y+xREm/WX2"
    "QYcBuINsl7D76ery+vP5zf6b94Pjk5STKmT+7VGaXo8QewsFKAZrRvtpC8ttUncq+Uk8un"
    "DzXqASARUhGtw6i29vQ/vn2nd2oJZJfV3XgHoCSl77G1DDRzajoyfozXL7I3WJObF/IStB"
    "8TV/IJzvuA007EcXG/xHXNAuMvw9XEHh1bUa5eJlpOzFFhYngP9s4sv/y/OHy/NPV3vfX2"
    "fjc7lwXa7TfqGeGfzwzP4n3aR0G6T7jTUnaF1xN3TOlXeH2CiEHaJPgiHDj3EbW5h9FLsE"
    "yxwTiNpjcBli4IYMYta0qcn1dXc1hDC/7Dao/u6V9t8CwaS0/1fU/v9cUCalvESAHtJbv+"
    "LimYacahi07yG5pxW4PS2k9jSzcFlO5F/ppjVAqC3rpi0rfp5o21gFEjhF8yaag3wCCa0h"
    "hmhuW3PcatUh5mDlqiExNHm5kASqdbtx3X4z2RY0x2GvQ/JRpxh+xtZCVgIngYrlUpZdgi"
    "3zL/7mO3bODqOU5zRUMV3K9JjkfeZKGQ4hitly74LsyvXqWa8tCwivnVfmSPLqAxSvm3iF"
    "oAGZDXEEUHkLm405DM8I34HRscmkouDSuHaEwnU+ayGz8DWH4JzU3XLBkgAqAVNFwGgQ9b"
    "MVzyFQ8byBZwjf4gNqjM6IVGB+Btg/wV5/eH5I2haBtAmkyrhtcyRJYIiSn+QEUIULtXqS"
    "F46xZUx8EtnDae5oUHzOtAdPv571Z+J6uRlshbb+GKI5W/+u7B512/pVPNjL+VTxYDuMB7"
    "vnAuP++vLxtQLCrv5cmGz1YGPHm1J2L4RSJiQs22hQFhRGRHPNC9pXjQlDImIE+SFl+uoH"
    "D/kdIcxEbNacQjoG5JbMRLRWkL4xNmFa/L+ndOGKnBMO4avOZTmxYTsZBnJkPgX12qIadQ"
    "aG3rle7Ym0EpGeMnbpHG56JFW2buDHnvGnPPSfZ3jwEcLPBPbJXromY+J5dCIGCJJjRHaL"
    "UbH+2u/roByuG/yhItSajFBTAVQ7DaCSV5N7qx53Vx3O7oJ8WShpoluDVJDGJvvcCFs4v0"
    "5bGcMxlKK4avyAJMdxmCJ5E8kLe0uak0BF9CaiwYbIxTU8B5YNKshgFd2V6E6k11TUy7NA"
    "ZR5Km4d0qL8n5ZQKAT3UyavUMiquZCTqGLWkvMd1VLxhL8eaEbs7KDNjxEpAVLVgwA4e4E"
    "FdjcgSECtDESvPMaZQOx3tB3U5ZoQ40Np0PVGbA6pjmHaOAWMHozzZw3VFk+FHhAMwlNLw"
    "bRZhzQ9+g8DeyPPL1sPYpodE2XhRPgRD1XkxPN8FUJcdtLI2/H+7MeL10+Vel94dx1eNsN"
    "xnJWzfw69K/ZYeZUjbKb0gu7fK6koCVWDUBsV+TdcWLv4MWAXstNmKGZsu+SowueD+BcPV"
    "I8lasgO5cw2h5WY2H/6N0n0HhSYVtxy/Bm7B2LFOI5fO4FAmKPRnWXCwk8cwW4C2b4N78W"
    "CAdDp3/HoY4gCnrJO0vm6V4t8uxV+3TKjXItZYbmRMWUBuBtq7rUD9Ebmvv9NqlZSvf6+l"
    "KmdE5FZZvMVrN7N0/TddECTBbxLVYOG6OXZnpKHKdTXYSlWNkka2Wa9btbRlGnf9acVCB5"
    "QSvxGiQdEQ6KjNyIbjKp+44+JP3HHmEwexh1tVLEkCVYp86VqGqkRA2NYljZJgJTs28D0m"
    "siQHCLWON/GqhdHNMpI5jVMmpgr1hoVVRMrVEyF6uAHZgSdN0LWVvSIH2r8lXb/Bgo8ThE"
    "ZUJXqN6OGSrl9mFJ2RW0zwq5yL65mTIEivi3JjSUZTSmdwgqZcAmAWuFXY3Gah0T2rciwq"
    "33XzTrEsPuU5AvRBApd5JndxsnO3TkdrVlZ3MxO86Hg0lf/f51nPCRXI5P+rhPWXf6lUwv"
    "orJ6xXKF19EQB//OWeWLjgCOaA7vAokive2aqz6kKG8O+7DEBJcpYTiJIhtTggJUwi0WKz"
    "uTk05c4mImke8Y4tOG+SUQgrD/oSh0hCf6uBCC03DERdce2bmZO1/9LOVBhKu8JQoiUlxW"
    "4KtasPXveIVuEmjRkWZvx3ydAbtu8huTUHQahAnl0F8qjwkp6Gl/Se3o75iLtE7cSlnrfF"
    "kRYJnHLFl3KsXD0NaGTKPL7Ngm65YTRrD1eW0Xp3isUhFcUlRYpDKeryinaOUmVsbsTYnF"
    "m5NTAb5eJ1a9VW5TT+traq5uwX2P9c4Nz8yOjeoNQiLbJhR7hqmiSYj3lrRMcIQ8WTH7yg"
    "volHwKDtXw+rqUBREwQxTe4z5vSLY2aiuq0+TpwYnmukrn2UJ9vvSRSW9Uu46Nh1V2Dhjp"
    "rHKr/o2DYsDo1Xlz39sC7fMqfPfscISGNksnqy+YPBaegwBJSDgTouB4do6L+UQ3T79ebm"
    "A/wk/tvgXHRihImhwQ9bQpWYoJjMAM2Iw6DqzJPNHwqeF2rEwMphxAv+5xevFQVxRysgJX"
    "iU0rPWg6W8tleG7IkFDtWuhJaWPof992oIZftvyvbftCLXMvGtLP4d21/GhYZMSGyI6SHJ"
    "9QfFrqVxhuXNR9pEQLWFb/UWHuZK0toYQpQ9d5OtcWpOppLkhhBF7sZiTf6ZFxLcBghFbZ"
    "UDAmWdPBFG0buJ3mcgTZbfNUg5eDYv3py9zAWlFsF2yerN28+MKN0ZpdGVZmm9uLu7Sagn"
    "F9fpjIevny+uuLaY4jxnoyNdOe2F5dK2c6YJM0szvrRelUx7CGxAl9Qem5O9HNtgqsWgzE"
    "IYWpTATMobV7QTfsEuH5Jv3by4ES/s66Mwm9lkSaC6MV2K0srYr6DsIdOG/+skG7xaW68q"
    "irVdlqxwCqVkUgzTQ8tA/eYXB94eqVPq14h2nE8Pw/bmfHoVbVH8JnQzLa1KMqIKvlCRAr"
    "tl+IWRApfnD5fnn65ey6X9yB9kwr86X0XqbZ7ymmpRqryyoK3mZ/JWVF7DEZCPQqbhIWyB"
    "TFqhqfAKGwPkQd6US/iQ5jMBT27YmLfVmTjEQ5wxmtVi6+/+Beqs322uSLowJ4VSKQGrRz"
    "C1QcH928nJmzfvTo7enL0/ffvu3en7o0g+ZW+VCaqL659AViW+MpvVYJfohE/3NjpBCqqU"
    "grYrBS0xFsCnjvxsQjRKbnZr4n65rIWW2jTWtMI5T2EiIpy0ZI6DE5LAVQV5qWML5547XQ"
    "2k9vjt2uO3KFO1BzyrsJXG7CbqmKSdBqyobNWI3NMK3J4WUnuqslUbc1eKGhlb1TdOIRXV"
    "G6n+Zm53jFoSqIjemIEtncH6qrmrXaJ2TPJKN21Kv871vChy82Rxbmmswk1FDNGcUf24I/"
    "sJ2EhvZYJKAHtogOqIwalSALEfObWN7zEObGaSm9yc92mOu1EzocOGAeXLVb7cRsTRLkuM"
    "7tq5EHBf4FpYz0y5Y4G30/iPrObALaZX+QTa5RMQ/0p8oML26rjU1Mep6LhUqXC/GKQd8X"
    "4wXm/i/boT49rxMlae+RfRZKuLJkANUh1Y3LvpuOGUPWNrIWuYTQKVgWuTgcswXaKHld2r"
    "LugEqMEFbdGmjgetuWou9C1vSkyhlDkxE54gF5qwfVhC26qT7PgrxxwZXv3WitcKvPKhpJ"
    "ZsBFDstrQETKs5rl8vE93jieYRPrAh+zFLIZv7oJ3tKle97i8adhyXSq7hOKbJFOoFo51U"
    "xhy8kC8HsAapcgAS5QDCgzpnRMo2kYL1ziR3fFJlTfNWxaL5JGdde54zdXFeoZZiqpOoHn"
    "4Dd0H1dI51+JK5ROoM5hRMkV2JbBjBL6qqOcTV5qa9yIuZLtU8cvFK/8jqH5ZFl5rpSNn2"
    "EyBl3a/duu+a3kxmPsL27ZiKXhVWmBLsshHBLBAjMjugXKwqlpsVQiOX4JlGnomt4THfn2"
    "vMOZZU14u6UMq7hPKuT3F+EFJZ9nYM1KO13UjydsxQSB1Tl6Y+jlLcb8u9qp1TPCH9SpOP"
    "z7pfdGKbWU8i1ay3ZdZz4piDp495v0U44zaznkTWMOstk73dnWT/3ZYogZE6JzRHpb8IcD"
    "/+ck8sXBD4EESeXlD2JcwL7NiLXhQRnLQyBkUTXkjT5cJ1ic3CA+77ypY43umFVFU9AauT"
    "BBVGxcgwFK6iK8h/7itTYbxmvFju9pQ9ZMr09pEzUTfohUylqxT1kafQ32bRl66rX/2ebm"
    "iVNdVOnSdL1S7zWL56xHiAmGi2cMleTipLssGgLJsFXNSaF7atWJEwmDG0xkUVA7GuE4dB"
    "ycDwuDhRBtsljoVXaMmniS7hzDmAEoNf59MI9bHFfd9bniivtbuhnuylyaamjUxRkNslY+"
    "BiAJW54RS7FXJcylU7D+0HB/fNMb84IytoDZf0KdFnBy8t7mWYE+JJuQTXiN45uevKO2nP"
    "IXVtk+11G97JN8fkL+UW2+EkUuVud3g7vOOPXe6BsuL6pk9bxXNki+dUZWi2K0MzqqAs7e"
    "hIAvtTuLFhVwe8VLJpsnFM/wKY6s+VdaklxW/YvodVMmqO47UpM8c5YaXFgTFrhAqNSWgr"
    "dYTGMMqcLWIiUzAlUjaLFEEZseHHy4axp6EqHkYiHkaQZ2GPaR4jOSly5bEZaayK0FARGs"
    "pX34mDDGJG7ZzNa9LkXbyFTRvZN5tmr4TpMsCFNs9BaN1E1CZw9qBuLQywdYIFFPlfUrCA"
    "GuIsl+wZB3V0+mQ/2UN+f+FAis4QjKgeYRxrreDwGDCohgbdyFQLpyraSATiIzM8hcZ/b5"
    "B4W9Acz4iwxj7ZvGfL1OFQGmGYRZjRuanzTl3qeaExl3jqMIYWbuv5itCmAS9VtcA4psEc"
    "xl3p3rtOw3XJnMIRSVJ5+glQ70iuX83mwzFiM58jCZ7TuN5RvZMsrxE1cvbyj+RboSvHaL"
    "p01Svs1B+vfnss36lHOtrN3e1PYfP09j2d5BUcfl09wSsAvMhs0rK9S9P2EUFirqm7JLU/"
    "humfZWQnciTSSmV4ToBqIbpFfvjjs6NK+sdRiQKSqRvW+MlQrV7J9RezwdJF2fDLKrK1mt"
    "/6NegpA7Mzw2whlcKZRDUXRNKV/PEiRsvKkBawuUtNLjzRtLv7v/zy+8Xq8gvL77dMOjSt"
    "MYswfrlQszikR6b+2iRF184jVtFm250UMjZt05tuNc8pqEqya/M8u8SB0hY6XeRZfgvFZB"
    "qmitymBaXvNCZQyUL6DUpj1SvU5leo6XD2lk1l/478aRnBRflNg2on/vDh0e3Xm5vXOvHn"
    "nLimPt3L8cAHdwZl3ne8bqMiyLv0Sg9KXM3PxPUkzWQxSA9DbE9Oq5zzzVsVGhvEvUxRYi"
    "lDpNOwh7k5M+RRJUv6UYkl/ShjSQ/cxTL+uBik+UDmjrvkXjWk7Pt/ANkkt8I="
)
