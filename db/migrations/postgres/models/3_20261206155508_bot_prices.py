"""Each bot's own last alert price per symbol (SPEC §5: an alert's price moves the stops of its
own bot only; another bot's alert never closes mine).

`bot_prices` holds, per bot and symbol, the last price the bot's alerts carried, written in the
commit of the alert's log row; monitors in every process act on it for that bot's positions
only. From then on alerts no longer write `instruments.last_price`: it holds the exchange's
(ticker) prices, and an alert's price left there earlier is used only as a last resort. Nothing
to copy: a fresh
table fills with the next alerts (a stale price would not be acted on anyway).
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "bot_prices" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "symbol" VARCHAR(32) NOT NULL,
    "price" DECIMAL(38,12) NOT NULL,
    "seen_at" TIMESTAMPTZ NOT NULL,
    "source" VARCHAR(16) NOT NULL,
    "bot_id" INT NOT NULL REFERENCES "trading_bots" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_bot_prices_bot_id_413c54" UNIQUE ("bot_id", "symbol")
);
COMMENT ON TABLE "bot_prices" IS 'The last price each bot''s own alerts carried per symbol, which only its stops act on.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "bot_prices";"""


MODELS_STATE = (
    "eJztXW1v2zgS/iuCv1wK5IIkbdJe93BAkqa7uU2TonFvF7s5qLRE24RlUUvRSbx7/e/HoS"
    "Rb7xYdWZEEfmoq8aHkhxQ5M5yXvwZzamPHPzhb2IRf08ngvfHXwEVzLP7I3Ns3Bsjz1nfg"
    "AkcjRzZG0Mp0wmYjnzNkcXFjjBwfi0s29i1GPE6oK666C8eBi9QSDYk7WV9auOSPBTY5nW"
    "A+xUzc+P2/4jJxbfyE/ei/3swcE+zYifclNjxbXjf50pPXrlz+UTaEp41MizqLubtu7C35"
    "lLqr1sTlcHWCXcwQx9A9Zwt4fXi78KdGvyh403WT4BVjGBuP0cLhsZ87MtfXBqZ5czs07y"
    "6HpjlQIMiiLpArXtWXv34Cr/D346M3b9+8e3365p1oIl9zdeXt9+DRa2ICoKTnZjj4Lu8j"
    "joIWkuM1qWIUKcvyejFFLJ/YFSDFrXjpNLcRk2XkRhfW7K5nVBP0ztGT6WB3wqfiv6dvSr"
    "j8z9mXi5/OvuydvnkFD6TiAwg+jZvwzrG8BXQn6IU3UuM3RGiCKxDMERMriQrBa0RzBA8G"
    "jdB7dPyuAr+iVSHB8l6SYbrgFhV/KlAcg/RwEh+dViH5tJjj0zTFNuaIBBtukuJ/393e5F"
    "Mcg6QotonFjf8ZDvEzm11t0/mf44Ur1yljtCAOJ65/AI/9166meQnhQBH0PPf9P5w40Xuf"
    "zn5Nj8HF9e25pIz6fMJkL7KD89SAWAwDZSbKWVk+iDuczHH+uCSR6aEJoQfRH/UMUKPyiP"
    "h99q3rLMPnlozM8OrT5d3w7NPnxPB8OBtewp1jeXWZurqX/mxWnRi/XA1/MuC/xm+3N5fp"
    "UVy1G/42gHdCC05Nlz6ayI5RFF2NaPwOwuZ4FpOM4MIIWbNHxGwzc4ce06K22Vvz43n6Cn"
    "LRRA4ZkAuvGcrg55R/ZsTCgxz5fHWvVD4fUW560MyvJKAPhlNsOMjnhgQZGFlTQ/TxN9+g"
    "j66BHMy4b1iIMYJtw8PM8JfzERUT4nFKRFMqZoBBRBOfU883xKPEpYNBagrt5in37r179/"
    "nywrhfHB6ityfvDRT2JfoNHjSnD9g3hIIRIPeNYNMXXbi2AbPZES8Y9krH8hHwQuLV5DPv"
    "3T3kUtBPwreVvRsufhBXLIf6ovM5cfGrH8STXCIEYt8grhEgPEbFKEAT+FRE34a4ig8Mwc"
    "W9i5+sKXInOHpTP/qp8MYG9L8MHxm+OGIYuv5G4CtczLH4DL9JnnMUqd9hFsC9gMXBf7Vm"
    "9YKaVTgICmLTGtFDqen1cQWp6fVxodQEt5KbtBetiqn9GVtkjpx8ileY9M4cgA5CcAfZLm"
    "H3w+XF1aez673X7/aPAoLFrks4jjP/5jBNr4+xu4UAFIM1I/20heU2iTsRJxl5JzHAdMHy"
    "PqCSBWqFaFB1lntvQ/pz7ZodiGVKu+sasHmH7cD3Uscmm5HRE/Rmuf1IGSYT92e8lBRfiR"
    "dCbu60DSXsIUO2+BHntIsMf49mUHR1LUYx9LgS9mITSxAgfjYO1v+Ls7uLsw+Xg+8vo/hc"
    "LBgTMu1n6pPwh2f0n3STUjXIChqbXti6ojZ0JoR3D7tGBDswPkiGbCGdi8tjB/EfpJbgkL"
    "GQx6VqISAuNr6Jnm1sTomQ19nym8HoY1YNqr97Lf23YGHS0v8LSv9/LChXEl5WgB7SW7/g"
    "4hNbTTQM2/eQ3JMK3J4UUnuSmbh8qai0hgitsm5SWdHDxNzGKpDAaZo30SwELEZwznFVod"
    "QQQzSn1hy1WnSIHbAK0RDbpvq6kATqebtx3j4RvgXNcdjLkHzYKYYfkLNQXYGTQM1yKcsM"
    "I4f8Kb58z83RMEp5TkM106VMj3HeNlfKcATRzJafLqjOXL+e+RraGHq7x3FPkdcAoHndxC"
    "s4DagoxCvAVhpxy+jctTGHoxkWGhgdE67kBZfGtcMVDp7XG1c4OY9ND6OZ6sKSAOoFpsoC"
    "Y4LXz1Y8R0DN8waewX1LPNDkdIaVHPMzwP4t7PW750ekbeFIm0DW4ErSMub75EkSGqLUBz"
    "kB1O5CrR7khWdv6ROfRPZwmDvqFJ8z7OHbr0f9ATM/N4Kt0NYfQzRn69+V3aNuW7/2B3s+"
    "n9ofbIf+YF/EgvHl6mL4Ug5hV6s4h0GOL1js7n6ZG1gsWkI23OwABlEhNsDDEJQgUiQZvg"
    "KuzcaYMojp2BszOo8iWMQlaBoFd7zK8QCrv38dSa89vtpE745NhCPkKzkkRe176JBUv7eX"
    "dqbbKb2wxm/lmJQEatveBtvemq4ttNQMWNuc2qOXZs0RseFSD2TKBffPnlvPStaSGPlbZk"
    "spN6MUBDdK9QEKTSqqAr8wwrkQxEdYiOJYCt4jRmeYQWCGhRwH28aeUCH5wjc87IKm+Grf"
    "sOjcC0I60JhjltUA6utWC/7tEvwth0DIkZxjucadsjOlDLR3qkD9h0ovr2m1apWvX9fSwR"
    "8rcqtM3uK5m5m6wZcuCVLgN4lqMPZ6jtgMNxR8XSV1WXHiskzaMh1mszM162UTb7RM4q7f"
    "M1bKgErL7wrR4NIQyqjNrA1HVba4o+It7iizxY0JSNxbRIMkgdrLu3QuQ2AdELZ1VF4SrN"
    "eODXyPsSrJIULP4028mkFqCStnvShemdM4bWKqkDJHWkWUjnpWiB4qIDs4SZN0bWWvyIH2"
    "b0rXb7AQzwldFqoSvUb0cErXv2YwjHy1NOtrRIMys08mbrCbdnHdeMSjKaUzKAKh5sOWBW"
    "7ly7Z50eieVTkWOs1YXiGGIX4qyqkQAfqwApedTF7+OkwcSmaimlYHk9e3Nz9GzdOhTl1O"
    "8K2dmd9vneFbu7D3edSruLBrn+vn71Ta5/qFfa4rZF86D4Eff/6CHVRQRSikO8qmeSk6W3"
    "ZWXMgQ/n2XDihJznIcUTKkFjukRJlAzdhobnZNuXWxARZRQ3TsQMkETg20yioq6yBAf8t9"
    "WRHBtsFxHK49EZ51SHluZ9oNpV1uKKsppcRuCrWrDa97RGt3k8YMCzPxu1Tojdr3kNyanS"
    "C0I8+uHHm0e0lP3Ut6T2/Hzoi7RO2EUd/fIitjAqeP4ks51kc9DUhk2jy+zYRuuWE0aw/X"
    "ltF6NcVil4pCRktcKeo6Fe0cpdrY3IixOTNza2B2FYvXrVlbldP419qqtCmyQvA5yo2PXN"
    "3bL7VIy2jYEaoaJgnmY9EayueisGRtlMUEDNrB9SjXCQfLMfg0sQck6JeZUg2Z4QTiIINK"
    "uPBnrpG69qfcu7k1iJdg4V41j1XqtZBrOwK6l191OFFtGOb8ZHnv5lQVfnVgfAs+ym/Gzd"
    "fr6/fwk8Rvg9Je2I4CQ8Mf9ojF315QgHjfmGGPQ2aYe1e8FAvrGMPM4dgP/xcUJ5Ylh0dL"
    "ICV8ldJyYeFUXtsrI/bkBPew+L5BSkuXEvu9GkLb/puy/TctyLVs+dYW/47pl/FFQ8UlNs"
    "L0kOT6nWLXq3GG5c1ZWVdArcK3WoWHsVK0NkYQbc/dZGuckslUkdwIosndmKxJzGg1bkOE"
    "prZKjnvVQ54VRtO7id4HIE2V3zVIH/Bsnrw5usw5pQ5GbsnszdNnRpTujNLVlWZpPb+9vU"
    "6IJ+dX6YiHr5/OL4W0mOI8R9FRzpz2zHRp2x2mSTNLM2dpvUqZdhfagC6oOyaTQY5tMNVi"
    "v8xCGFmUwEwqGle0E35GTDxSqG5+3IgX9fWDNJu5+BH7HIrby/THshGkRSMyHbKFs86rtf"
    "WqvVjbZcmKhlBpTYphemgZqN/84sHXo1RobY1oR4k1eGxvSqxpb4viL6GbYWlVghG184X2"
    "FNgtw8/0FLg4u7s4+3D5UkfaQ/EiE7HrfJWht3nCa6pFqfDKw7ZmEMlbUXiNnmAEKIPYvo"
    "EcWJOWxlSeCtv7hg9xUwyLR5IHDCe5UWPR1oLUvWLjom6eFFt/988QZ4Nuc5ekczIpXJUS"
    "sHoWpjYIuP84Pn79+u3x4evTdydv3r49eXe4Wp+yt8oWqvOrH2GtSuwym8Vghi0shnsbmS"
    "AF1UJB24WClhgLYKvDPxHwRsmNbk3cL19roaU5jTWtUH8pCkQUarxDxjhwxIGjKohLHTso"
    "J4K1Kkjr+O3S8VsUqdoDnrXbSmN2E10maacOKzpadUXuSQVuTwqpPdHRqo0dV8ocGVvlN0"
    "4hNdUbqX4i25VRSwI10RsjsJUjWF80drVL1I5xXuqmTeHXuScvmty8tTg3NVahUhFDNGdU"
    "P+qIPgGK9FYmqASwhwaojhicKjkQB55T25w9xoHNDHKTynmfxrgbORM6bBjQZ7n6LLeR5W"
    "iXKUZ3fbgQcl9wtLAemfKDBdHOFD+y2gFuMb36TKBdZwLyX4UNKmqvy6WmNqeicqlK7n4x"
    "SDv8/eB5vfH3646Pa8fTWPnkT2yqZhdNgBqkOrS4d/PgRlD2gJyFqmE2CdQGrk0GLpswbE"
    "WZ3atO6ASowQnt0KbKg9acNRf6VjclplDanJhxT1BzTdjeLaFt2Ul2vMtxT4XXoLXmtQKv"
    "4lFKU3YF0Oy2NAVMqzmuXy6T3aOJ6WPxYFt1M0shm9vQTncVq173joY8j1HFORzHNBlCve"
    "C0k8KYhxbq6QDWIJ0OQCEdQFSoc4aVbBMpWO9MckfHVea0aFW8NB/nzGvf96YM5SVqKaY6"
    "ierhHrgLqqdzZMFOxrBSDeYUTJNdiWx4QpBU1fQwM+fEXeT5TJdKHrl4LX9k5Q/HoY8m8Z"
    "Rs+wmQtu7Xbt1nxJ+pjEfUvh1D0avEClOMGB9hxMNlREUDysXqZLnZRWjEMJqZ+AG7JhoL"
    "/dzk3pGiuF7UhRbeFYR3a4rynZDKordjoB7N7UaCt2OGQuoRS5n6OEpzvy33OndO8YD0K0"
    "w+PupB0oltRj2J1KPellHP8WMO3z52+i3dGbcZ9SSyhlFv2drb3UEOvm2FFBipOqE5Iv15"
    "iPv48xfsoALHh9Dz9Jzyz1FcYMc+9CKP4KSVMUya8EyaLhaMYZdHBe77ypYs7/RMqqpWwO"
    "okQYVeMSoMRbPoEuKf+8pU5K8ZT5a7PWV3mTS9feRM5g16JlPpLEV95Ck6b3Poc+fVL0FP"
    "17TKnGqnzJOlapdxLF99bN+BTzRfMDzICWVJNtgvi2aBI2rTj9pWzEgYjpixxq0yBiLLwh"
    "6HlIFRuTiZBpthz0FL41EME32EmnMAxba4LoYR8mPL+8FpeSK91u4ede8+Ej4lrkFkQm6G"
    "x8DFPmTmhip2S8NjVIh2vrEXFu6bI3FxhpfQGi5ZU2zNXj03uZdNJthXOhJcI3p3yF1X3E"
    "l7itS1bW2v2/COnzwiPsot1OEkUsdud1gd3vFml1tQVl7ftLVVrCNbPKY6QrNdEZqrDMrK"
    "Bx1JYH8SNzZ81AEflWqYbBzTPwem+mNlGXWU+I3a9zBLRs1+vC7lZJzjVlrsGLNGaNeYhL"
    "RSh2sMp9zbwicyBdNLyuYlRVKGXfjxqm7saaj2h1Hwh5HkOcjnps9xTohcuW9GGqs9NLSH"
    "hj6r70Qhg5hRO0d5TZq8i1XYtJF9s2n2UpouQ1xk89yPrJsGdTHUHrSchQ22TrCAGsFOCh"
    "ZQW9ZyydY4qKPTe/fe/SbuLzwI0fkGRlQfc4F1llA8BgyqkUF3ZaqFqoquIR3xDRJVoQm+"
    "G0N+LcYczbC0xt67omeHWFCURhpmDcTpnFiiU0Z9PzLmYl8XY2ihWi9mhDkNeakqBcYxDc"
    "Yw7kr23nUYLsNzCiWSlOL0E6DekVy/mC0ex7HLA44UeE7jekf1TqK8RtTO0eWH+KnwKMdu"
    "OnXVC2jqw8tfh+Wa+kpGu769+TFqnlbf00FeYfHr6gFeIeBZZpOW6S5N20ckibmm7pLQ/h"
    "imf5aRnawjK6lUhecEqBaiW3QOf3R6WEn+OCwRQDJ5wxqvDNXqmVx/MhuknJQNPS8jW6v5"
    "rV+CnnIwO3PEF0ohnElUc04kXYkfL2K0LA1pAZu7lOSiiqbd1f/y0+8Xi8vPTL/fstWhaY"
    "lZuvGruZrFIT0y9de2UnStHrH2NtuuUsiYuMSfbjXOKagOsmvzODPsQWoLiy7yLL+Fy2Qa"
    "ppPcphfK4NAYQyYL5S8ojdWfUJs/oabd2Vs2lP0r+dMygovim/arVfwRjzduvl5fv1TFnz"
    "PMiDUd5JzAh3f2y07f0bqN9iDv0ie9X3LU/ICZr2gmi0F66GJ7fFKlzrdoVWhskPcySYmV"
    "DJFewyfMzZkhDytZ0g9LLOmHGUt6eFysch4XgzTvyNzxI7kXdSn7/n9eiBJJ"
)
