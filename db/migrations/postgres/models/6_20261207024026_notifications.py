"""The notification outbox and approval cards (SPEC §11, issue 16): every process writes the
events worth a Telegram message to `notifications` and the leader sends them once; where each
approval card went is kept in `approval_cards`, so whichever process resolves it edits them."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "approval_cards" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "webhook_log_id" INT NOT NULL,
    "chat_id" BIGINT NOT NULL,
    "message_id" BIGINT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_approval_ca_webhook_f52b5d" ON "approval_cards" ("webhook_log_id");
CREATE INDEX IF NOT EXISTS "idx_approval_ca_created_86db9e" ON "approval_cards" ("created_at");
COMMENT ON TABLE "approval_cards" IS 'One copy of an approval card (chat, message), so whichever process resolves the approval';
        CREATE TABLE IF NOT EXISTS "notifications" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "created_at" TIMESTAMPTZ NOT NULL,
    "type" VARCHAR(64) NOT NULL,
    "payload" JSONB NOT NULL,
    "origin" VARCHAR(128) NOT NULL,
    "sent_at" TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS "idx_notificatio_sent_at_8738b1" ON "notifications" ("sent_at", "id");
COMMENT ON TABLE "notifications" IS 'The notification outbox (SPEC §11, `trading.outbox`): events worth a Telegram message,';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "approval_cards";
        DROP TABLE IF EXISTS "notifications";"""


MODELS_STATE = (
    "eJztXW1v2zi2/itEvkwC+AZJ2rTddrFAkmZmupMmRePeGexkINMSbetGFjUincSz2/9+eS"
    "jJ1rtFR1YkLYEBppH4kPJDijrn8Lz8e29OLeKwwzPTpAuX3xLObXfK9t6jf++5eE7EP4qa"
    "DNAe9rx1A7jA8diRGBw0Nli89ZhxH5tc3J9ghxFxySLM9G2P29QF1HBGUIj8gSH66CLfZv"
    "fIXziEIexaiIsG97bjIPZoc3OG9m+/XF6gu8XREX77Bh+8R9QlyKePA2Rb6PgQRrWoKYYV"
    "z7CLAe7cO3cEXYyQzdDoq/jXV+jrkFPj/xh1R4hOZJ/rQYOx9jEa0+gZsE+Q7SKbiy5kZw"
    "ei42HqSRinHkPEFb9F4KnrLD+gETQwggYGdDxCMGlMDgl/i39gjgTE84glBrhz90dz/GRY"
    "Pn60xNCjgwG6hp/0OCPiOVx4HOIjvvBd2V6Mc4hGDplic2l4eMGINXoPTy7YSjwdndy5Yz"
    "KhPpFjL7ypjy2CAgjaFz2F/3ycUfFY0IMY2idsMRcXx0uJmtg+4+FFhCdcPInN5SQuXPvP"
    "BTE4nRLR0BdT+fsf4rLtWuSJsOhP796Y2MSxEqvXtqADed3gS09e++TyH2VDWB9jw6TOYu"
    "6uG3tLPqPuqrXtcrg6JYIazIkVW7/uwnHCJR9dCh5VXOD+gqye0VpfsMgELxx4CwAdPMH6"
    "2p5hXN8MjdvLoWHsZd6QCBFb0+Elk7rwdolnDV7eKTzC/5wcv377+t2rN6/fiSbyMVdX3n"
    "4Phl4zEwAlP9fDve/yPuY4aCFJXrMKyzTL6z9vb67ziY3ap6i1bJOj/yDHZltRHF1Yc7ze"
    "WFaE/n2ycE3gD40XtiN2I3YIw/5jb0fUl/AK/EDPc8b+dODC9f+efb34+ezr/uez3w7gDh"
    "UbZLCDXl9c3ZxLyijjU1/2Ijs4l1OznorYHpCdkXMqXjfs5k9KCpmam7GA7mpSVlea5f/8"
    "5uYqwf/5p2GK9W+fzy+/7h/LyRCNbE7iL0Qu68Z4mSX+Yob9jayHyBTx4sfs7GXY1aLfg6"
    "+KQ9wpn4k/j0/elcxCtOZFq/SaD2+dBPeKGWe2a5Is6R8FXdyek83ErzpIb0hhD4fRPyrM"
    "RLivK03EDrf+EuaHnz5f3g7PPn9JvAQfz4aXcOdEXl2mru6/SU3SqhP066fhzwj+RP+6ub"
    "5M71WrdsN/7cEz4YUQilz6aGArzkl0ObpUOOc+wUKiyk76kDwVfM3z0T1428qm+PK3Yfkn"
    "ZjXDVzfXP0XN09+d4lcPxMptt7sIu9UUtOw1S+54r04qbHivTgr3O7iV5DwhdKuIWhlgO2"
    "QuGK/TMhdoGJP7mDQMF8bYvH/EvmVk7tATWtQ2e2t+Mk9fwS6eSnrhF8Pvi9Rwz/PpA3Yu"
    "RE97eWp6/P6gVEcPWxqmaFpRQ78RuqJJvSXotUJdjLpA0AXaN4W2OUBCAWXi2YV+x6jQ92"
    "xzRh6EKidamuIO6HfUeQiV1KiDjKa+q4HuhGILija0XIYjCFEA7Y/EL7fE4Id0wcf0KcHj"
    "LReKrdDK26iKhtvif60m+kjGM0rvDYdODSWCs8B69P7sBtk9utf0wpuWy+u5PS2kNgbaFa"
    "fNfusDUv92cvLq1duTo1dv3p2+fvv29N3Rit3srTKazz/9BEwnvj1Z6sPtTZn9JE5PwNYT"
    "YAqlQVBkYK6qaiaRNeiYbdtlxO+zblxnGY7bEZ0zpCijcrZFtFsI0eSKTnPFuuheuUgHre"
    "CLVkmaK55uLeS0S8gRs0h9Fa17BWjO2tGYrv3mdQVd+83rQl0bbiU3eix1VUV+7abNSR0m"
    "mGNf7CQqBK8RPbDXNWAdF1qrSedKlrkYpIeL+PhNFZLTgkaM4zdpii3CsR18cKva4mKQdl"
    "jhenXyqeVzLZ83KZ+fU/7Ft02ylyOfr+6Vyudjyg0Pmik4RDmYcSRBiGBzFvcbcojPGZhE"
    "fZtYyCM+Ysv5mIoFIa2h0ktIuhUFzkNiKHDoydhadzIKuEbFnKdO30szLvQl+g0GmtPIOi"
    "uRAxR89ENPLLGaHfGAYa90IoeABxKPJse8c/exS0E/CZ9W9o5caQQ2HcpE53PbJQcfxEiu"
    "LQRiBm5WASI0EhMwE2Pp6iSukkMkuLhzyZM5w+6URE/Kop8KTxyajoMhwwcPPbhGNryFiz"
    "kRr+GoyFr8O6wCuBewuPeH1qxeULMKJ0FBbFojeig11X+O6UW7Yur7TEx7jp18ileY9Jc5"
    "AB2G4A6yXcLux8uLT5/PrvZfvRscn6T8jyLmXx+l6WWEuFsIQDFYM9JPW1huk7hTyQWG0Y"
    "Wf9wKVbFArRIOqs/z2NqQ/167ZgVim9HVdA/p0vPKsj2xGRk/Qm+X2R+oTe+r+QpaS4k/i"
    "gXC+T14oYQ+D8/lz2kWGv0crKLq6FqN8/LgS9mILSxAgfjYJ9v+Ls9uLs4+Xe99fRvG5WP"
    "i+kGm/UGaHPzyj/6SblKpBZtDY8MLWFbWhMyG8e8RFEewQfZQMWUH4wsTB/IPUEhx7QiAg"
    "g8NlCG+Qzh3EmNlCXveXI4jgyKpB9Xevpf8WbExa+n9B6f/PBeVKwssK0EN66xdcmG2piY"
    "Zh+x6Se1qB29NCak8zC5fnBHWUKq0hQqusm1RW/DA1trEKJHCa5k00h6GiClJDDNGcWnPc"
    "atEhdsAqRENiGer7QhKo1+3Gdftk8y1ojsNehuSjTjH8gJ2F6g6cBGqWS1n2CXbsv8Sb77"
    "k5GkYpz2moZrqU6QnJ+8yVMhxBNLPlpwuqK5fVs15bFutXO6/cU+Q1AGheN/EKTgMqCvEK"
    "oENSNxtzOL4nQgOjE5srecGlce1whet8QGpm4RsewTlZWco3lgRQbzBVNhgDvH624jkCap"
    "438AzuW2JAg9N7ouSYnwH2b2Ov3z0/Im0LR9oEUidTabMnSWiIUp/kBFC7C7V6kheetaVP"
    "fBLZw2nuqFN8zrSHT7+e9Qfis9wItkJbfwzRnK1/V3aPum392h/s+Xxqf7Ad+oN9FRvG10"
    "8Xw5dyCLv8c2Hz5a2LPTaj/KvclDIuYdlGgzKnMCKbGyxsX9UnDEmPERS4lJnLHxgKOkKY"
    "S9+sOYVwDIgtuZfeWmH4xsSGaQn+PaMLX8acCIhYdT7P8Q3byTAQI/MxTMW7Sj9sYehdyN"
    "VMhpXI8JSJT+dwk5FURuIBWuUtCp5ndPAB3M8k9s599G3O5fOYRA4QBsfI6BarYj6j39dO"
    "OUI2+EN7qDXpoaYdqHbqQKUuJvdWPO6uOJzVgoK9UNFEtwZpJ41N9rkxdnB+Ct4yhmMoTX"
    "FV/wFFjuMwTfImkhfuljQngZroTUSDDVFs1/AcWNWpIIPVdFeiOxFeU1EuzwK1eSiTFxBS"
    "KysdSkWAHsrkVXIZFWcyknmMWpLe49MqecNejjUjdndQZsaIpYCoasEADR7gYV6NlSUglo"
    "Yilp5jQqEsDtoP83LcE+JBa9tnMjcHZMew3RwDxg5GuXNH64wmow8Ih2BIpRHYLKKcH+IG"
    "Ad2IBRWJYGybIVkRSKYPwVBQSA4PWZt9rnMtt9EY8fLhci9L7479q8ZY7bMSte/hV6V+S4"
    "82pO2UXti7t4rqSgK1Y9QGwX5N1xZH/BmwdthpsxUzNl3qWWBywf1zhqtnJ2uJBnJNuT2x"
    "TVyUZCNxv1QLcWMtFXINxmEoKISSOHA8Po4dOAb3Rwfv4XxTTA56FIL7TMjxQ+KQqY/nUY"
    "GWQUYb2eFY60PPsKpoVA5GKh7eYuzYbEak6jOXeggT/UVtHYIt4g9kNVahmfjij0M08vDS"
    "odga3blB0o/gGYS+FExrrHaMvCFeQvHdGr1H4deLgXYT/HZ28CEYLzqiFYqVJ9QhOPStfB"
    "oLHYT7t1Bc1M5jy+pG9EwLaqRYRLGu1K3ktNoRb/M3uyg7bSI+AKZJ4Ssdte+hjlG/m3q4"
    "D2f5LQ49ikGajzp6GTF3J/FF1LentlIgxhqhE/hXSeAf+6qrfCxiMK3MtU2Za4lacQNy7F"
    "6OPhHcKFUkpAxcUYP4NRK8yYQK0RYk5bFP74kPtn4TO44Qu/cZx3wBhwguSMwHA2TSuRek"
    "2cMTLuTtjLJQX7f6PKFd5wmmY8P2JddYrsN9WZxfBtq7E4b6JaiXP8BplYha/xGOTsi3Ir"
    "fK4i1eu5mlG7zpqvpVEtWgJDrH/j1pKCF2DS4YOvVhI6c3L1sMoTvS/ZbZiqQMqLT9rhAN"
    "bg2hjNqUrlpJVS3RVDPZtmyQuLfI0JcE6sxbpWsZkp0CYVtnSk2C9d6xge8JUSU5ROh1vI"
    "lXIwqaVNmZ0zh9cl2hjIm0iqiwvEb0UAHZgYOepGsre0UOtH9Lun6DhRgn9LiuSvQa0cMl"
    "Xf+e4RPM1EpfrxENyszMnoaxP13cNx7JeEbpveHQqVpekSxwq2iczZtG96zKsWBf36c5X7"
    "0heSrKcx8B+rADl52RXf42TByPZU6CV0dkVzfXP0XN08fDXS66rP1a3tfi16LTivVt1nMO"
    "rTNpxXQerOd/qXQerBfOg1WhIs55CPzxl6/EWXlX59MdVTi8FJ0tOysuZAj/vksHlCRnOY"
    "4oGVKLHVKi2HQjNpubXVNuXCJzcSHRsQNl7DmFaNWwL1mbHvpbDmTEqgW+3/Lak52TDOy5"
    "nWk3lHa5oayWlBK7KdSuPnjdI1q7mzRmWLgXv0uF3qh9D8mt2QlCO/LsypFHu5f01L2k9/"
    "R27Iy4S9ROfcrYFpXyEjh9FF/KsT7qaUAi0+bxbRZ0yw2jWXu4tozWqykWu1QUZyosdqWo"
    "61S0c5RqY3MjxubMyq2B2VUsXrdWbVVO429rq0pZfAH95xznxkeu7g1KLdIyyc4YVw2TBP"
    "OxaI3oBGFIpPgDC9MmMgIG7eB6lKQRciUi8GnyH7CgX1avXJWDCHAyJ0mukbr2Ue7coCdZ"
    "ryLIDGli31+ChXvVPJZQ0sSu5QhoPK/L6ft1Vsg5fQg6hvwoYs1Pl3eueDCbB0NAlklID3"
    "lwiEbBSzlC19+urt7DTxK/jXHxlllRYGj4wx4h+WSYo3IQ5FcRt+9c8VDwvJDyBVYOJyz8"
    "K6iJIetsjJdASvgoRbb632MbxNpeGbEnFzgk0ZVS2h/Z7C1VENr235Ttv2lBrmXbt7b4d0"
    "y/jG8aKi6xEaaHJNfvFLvejTMsb66UuQJqFb7VKjzMlaK1MYJoe+4mW+PMns4UyY0gmtyN"
    "OWCDUnoK3IYITW2VuuOqhzwrjKZ3E70PQJoqv2uQPuDZvHjzkn5S6hDslqzePH1mTOnOKF"
    "1daZbW85ubq4R4cv4pHfHw7fP5pZAWU5znKDrKCZmfmYV5u8M0aWZp5iytV5mYb0Mb0AV1"
    "J/Z0L8c2mGoxKLMQRhYlMJOKxhXthF+wL4YUqhuLG/Givj5Is5lLHgmT6YRlxRYcFGZhkM"
    "BY/G2SrPNqbb1qL9Z2WbKiKVTak2KYHloG6je/ePD25EQQlGWgjRDNJ6Dd+/tk4Zoywbo0"
    "6dsuO4Rh/7GrL0IJ3TtJS6u9LYrfhG6GpVUJRtTOF9pTYLcMP9NT4OLs9uLs4+VLHWlHNT"
    "G+ydDbPOE11aJUeOVhWyOI5K1aTSSqyxGgkG0xhB3Yk5ZoJk+FrQFiEDflEzGk/UDgJDdq"
    "LNqaXNYGFP/lSbH1d/8McTboNndLKqu3kYDVszG1QcB94bobPjGJmO5tZIIUVAsFbRcKWm"
    "IsgE8d+dkGb5Tc6NbE/fK9Floas1jTCuVjo0BEKOBqT8LCq3BUBXGpEwfnRLBWBVUpRxSK"
    "C2tf8cCiCC+R9mX5b41j7QHP2qmlMauKrs26U3cWHcu6Ive0ArenhdSe6ljWxg4zZQaNrb"
    "Ifp5Ca6o1UP9nb1W5OAjXRG+OzleNbXzSytUvUTkheYqdNwdm55zKa3Ly9ODdxVqFSEUM0"
    "Z3I/7og+AWr2VgaqBLCH5qmOmKMquRevrSCKk5wANjPJTSrnfZrjbmRU6LBhQJ/06pPeRr"
    "ajXSYg3fXRQ8h9wcHDembKjx1EO0P8yGrHu8X0aq/Adp0JyP8rfKCi9rqYaurjVFRMVckZ"
    "MAZphzcgjNcbb8DueMB2PMkVs/8ihmru0QSoQapDi3s3D24EZQ/YWagaZpNAbeDaZOCybJ"
    "+YUd73qgs6AWpwQTu0qeKhNefUhb7VTYkplDYnZtwT1FwTtndLaFvukh1/5binwmvQWvNa"
    "gVcxlNKSXQE0uy1NENNqjuuXy2T3eGowIga2VD9mKWRzH7Q3u4pkr/uLhj3Pp4prOI5pMs"
    "B6wWknhTEPL9STBaxBOlmAQrKAqIznPVGyTaRgvTPJHZ9UWdOiVfHWfJKzrhnzZj7OS+NS"
    "THUS1cNv4C6ons2xCV8ynyhVaE7BNNmVyIYRgpSrhkd8Y267izyf6VLJIxev5Y+s/OE49N"
    "GwPSXbfgKkrfu1W/d9m92rzEfUvh1T0au0CzOCfT4mmIfbiIoGlIvVqXSzm9DYJ/jeIA/E"
    "NfBE6OcG944VxfWiLrTwriC8mzOc74RUFtsdA/VobTcS2h0zFFLPNpWpj6M099tyrzPrFE"
    "9Iv4Lo47MepKTYZtaTSD3rbZn1HD/m8Oljp9/SnXGbWU8ia5j1lu293Z3k4N1WSJCRqiKa"
    "I9Kfh7gff/lKHFzg+BB6np5T/iWKC+zYi17kEZy0MoZJE55J08XC94nLv4S99ZUtWfzpmV"
    "RVrY/VSYIKvWJUGIpW0SXEP/eVqchfM55Kd3vKbjNJfPvImcwq9Eym0jmM+shTdN7m0Oeu"
    "q1+Dnq5olTXVTpknS9Uu41i+MWLdgk80X/hkLyeUJdlgUBbNAkfUBovaVsxXGM4YWuNW+Q"
    "SxaRKPQ0LBqJicTJLtE8/BS/Qopok+QkU6gBJLXBfTCNmz5f3gtDyRfGt3Q925jzaf2S6y"
    "Zbpun0yAiwHk7YYad0vk+VSIdgzth2X95lhcvCdLaA2XzBkx7w+emw/RsqeEKR0JrhG9O+"
    "SuK+6kPSXs2ra31214J0+eLV7KLdThJFLHbndYHd7xxy633Ky8vunTVrHKbPGc6gjNdkVo"
    "rvIrKx90JIH9SdzY8FEHvFSqYbJxTP8cmOqPlfWpo8Rv1L6HWTJq9uN1KbcnOW6lxY4xa4"
    "R2jUlIK3W4xnDKvS18IlMwvaVs3lIkZcSFH6/qxp6Gan8YBX8YSZ6DGTcYJzkhcuW+GWms"
    "9tDQHhr6rL4TZQ5iRu0c5TVp8i5WYdNG9s2m2Utpugxxkc1zEFk3EXUJVCY0nYUFtk6wgK"
    "LgSwoWUEtWeslWQKij0zv3zh2J+wsPQnRGYERlhAuss4TSMmBQjQy6K1Mt1Fx0kXTER3ZU"
    "oyZ4b5B8W9Ac3xNpjb1zRc+ObULJGmmYRZjTuW2KTn3KWGTMJUyXY2yhWi9WhDELeakqBc"
    "YxDcYw7kr23nUYrk/mFAooKcXpJ0C9I7l+MVsMx4nLA44UeE7jekf1TqK8xtTK0eWH5Knw"
    "KMdqOnXVC2jqw8vfhuWa+kpGu7q5/ilqnlbf00FeYWns6gFeIeBZZpOW6S5N20ckibmm7p"
    "LQ/himf5aRnewjK6lUhecEqBaiW3QOf/zmqJL8cVQigGTyhjVeGarVK7n+ZDZYOSkbfl5G"
    "tlbzW78EPeNgduaYL5RCOJOo5pxIuhI/XsRoWRrSAjZ3KclF9U67q//lp98vFpefmX6/Zb"
    "tD0xKzdONXczWLQ3pk6q9tp+hatWLtbbZdpZCJ7dpsttU8p6A6yK7N8+wTD1JbmHSRZ/kt"
    "3CbTMJ3kNr1RBofGBDJZKL9Baax+hdr8CjXtzt6yqexfyZ+WEVwU3zSoVvFHDI+uv11dvV"
    "TFnzPi2+ZsL+cEPrwzKDt9x+s22oO8S6/0oOSo+YH4TNFMFoP00MX25LRKnW/RqtDYIO9l"
    "khIrGSK9hk+YmzNDHlWypB+VWNKPMpb08LhY5TwuBmnekbnjR3Iv6lL2/f8BgXPeWw=="
)
