from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "used_signatures" (
    "digest" VARCHAR(64) NOT NULL PRIMARY KEY,
    "bot_id" INT NOT NULL,
    "expires_at" TIMESTAMP NOT NULL
) /* Webhook signatures already accepted, kept for the replay window: a signed request replayed */;
CREATE INDEX IF NOT EXISTS "idx_used_signat_expires_293c49" ON "used_signatures" ("expires_at");
        ALTER TABLE "trading_bots" ADD "max_alerts_per_minute" INT NOT NULL DEFAULT 60;
        ALTER TABLE "trading_bots" ADD "hmac_secret" VARCHAR(128);
        ALTER TABLE "users" ADD "totp_enabled" INT NOT NULL DEFAULT 0;
        ALTER TABLE "users" ADD "totp_last_step" BIGINT;
        ALTER TABLE "webhook_logs" ADD "last_seen_at" TIMESTAMP;
        ALTER TABLE "webhook_logs" ADD "repeat_count" INT NOT NULL DEFAULT 1;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "trading_bots" DROP COLUMN "max_alerts_per_minute";
        ALTER TABLE "trading_bots" DROP COLUMN "hmac_secret";
        ALTER TABLE "users" DROP COLUMN "totp_enabled";
        ALTER TABLE "users" DROP COLUMN "totp_last_step";
        ALTER TABLE "webhook_logs" DROP COLUMN "last_seen_at";
        ALTER TABLE "webhook_logs" DROP COLUMN "repeat_count";
        DROP TABLE IF EXISTS "used_signatures";"""


MODELS_STATE = (
    "eJztXWtz2zYW/SsYfdlkxpuxndjJpjs7Yztu661jZxJl22nTYSASkjCiCBaAbKvd/PcF+B"
    "LfImiSJrn4FAfEIakD8OLivvDXZE0sZLMXZxsL82uymLwFf00cuEbij8y1AzCBrru7Ihs4"
    "nNleZyh7GXbQbcY4hSYXF+bQZkg0WYiZFLscE0e0Ohvblo3EFB2xs9g1bRz8xwYZnCwQXy"
    "IqLvz2u2jGjoUeEAv/666MOUa2lXhfbMlne+0G37pe25XDv/c6yqfNDJPYm7Wz6+xu+ZI4"
    "UW/scNm6QA6ikCN5e0438vXl2wU/NfxF/pvuuvivGMNYaA43No/93Jmxa5sYxs3t1Ph0OT"
    "WMiQJBJnEkueJVmffrF/IV/n589Or1qzcvT1+9EV2814xaXn/zH70jxgd69NxMJ9+865BD"
    "v4fH8Y5UMYqEZnm9WEKaT2wESHErXjrNbchkGblhw47d3Yzqgt41fDBs5Cz4Uvz39FUJl/"
    "85+3jx49nHZ6evnssHEvEB+J/GTXDl2Lsk6U7QK99Ijd8AoQmuQDCHVEgSFYJ3iO4Inkw6"
    "offo+E0FfkWvQoK9a0mGyYabRPypQHEMMsJJfHRaheTTYo5P0xRbiEPsL7hJiv/96fYmn+"
    "IYJEWxhU0O/gtszDKLXWPT+Z/zjePJKTDbYJtjh72Qj/1XW9O8hHBJkbzzmrE/7DjRz96f"
    "/ZIeg4vr23OPMsL4gnp38W5wnhoQkyJJmQFzJMs7cYXjNcoflyQyPTQB9EX4RzMD1Kk+In"
    "6fdevY2+C5JSMzvXp/+Wl69v5DYnjenU0v5ZVjr3Wban2W/myim4Cfr6Y/Avlf8OvtzWV6"
    "FKN+018n8p3ghhPDIfcGtGIUha0hjd+ksjlfxTQj2TCD5uoeUsvIXCHHpKhv9tL6eJ1ugQ"
    "5ceEMmyZWvGejgFxtKkcM/EIaDAcmo6ekupdq66Xc23KA3q6S1T84cQFzkgBD2ArxDNhJT"
    "E9wvRfPchvw7gDkTwmWOAGaAy2biIPBV3NlCxlIIHUK3XwEl9y8mqQnVwu1zdhO/TWbE+/"
    "bYdj0j9uR3vb14wu1FMAgKusMOMULV4eVxBdXh5XGh6iAvJVeqPzaEK+lmEWCE9DavmTFs"
    "KbEb9h8huScVuD0ppPYkM3H5Nke3QiZeQ7tg5vqItE7lQ14E0AHSXMLru8uLq/dn189evj"
    "k48qWC0JcwR3HOXx1mjA53C8Ol2MyZuaUEJ3Ca5n00CwWLYpSzayvUGmKI/apDU5Qe9Vp1"
    "iNkZhGooNk7qciEJ1PN277x9wLwGzXHY05B8OCiG76C9UZXASaBmuZRliqCN/xRfvuvk7D"
    "BKeU5DNdOlTM9R3jJXynAI0cyWMstUZy5rZr4GNobRrnHcVeTVB2he9/Eq7q1kzokAtXbE"
    "PaOzbWMOhyskdmBkjrmSMyiN64dHSD5vNB4hbx4bLoIrVcGSAGoBU0XAGIwTZQGeAGqe9/"
    "Bs2oSJBxqcrJBSfEoGOD7B3nyUSkhaDX9yAtmAP7lnzA/EfxxyknEg51iw1Ac5AewmZkAP"
    "cs1B3rhWzdCQJHKEwzzQ2JCcYQ/efjfqd4iy3EDOQlt/DNGdrb8tu0fTtv4Z4YZSvMUO0B"
    "2ZPQ+7yIQuJejNcvs9oQgvnJ/Q1qP4SrwQdHJ9fUHE0ZRCS/yIczJEhr+FMyhs3ak+FN5H"
    "4T+xiSUIsLxwJNn8UQiMj1cXguenCQiTo0M3a+S9dyYWLHb1oCwMDEf9qgaAARloJeHAj8"
    "MB0LFkGBawIePAcw4DhmSwFqEAc/BsTskaQBtRzoBokl3Rg7mEzgI9z4kAa/7+OqFER3z1"
    "id6WTYQzyJQCksL+IwxIaj7aSwfTtUqvlPG1ApOSQG3b22Pb29FVY5eaAWubU3/2pVlzRG"
    "y4GNnQvE+rWHzlgsdnz21GkvUkVeSWWp6Wm9kU+BdK9wNEdqm4FfiZYs6FIj5DQhVHnuI9"
    "o2SFqEzMMKFtIws8E1tIvmHARY7cKT4/ACZZu35KB5xzRLM7gOZuqxX/fin+po1lypE3x3"
    "KNO2U+pQx0dFuB5p1KT7/T6pWUb36vpZM/InKrTN7iuZuZuv6X7hGkwG8S1WH2/hrSlV8y"
    "oH2mq2TwF+fvZ7L3dZpNa9usOjtZvYmtyq6vAyqJ3wjRoWgIdNRuZMNRlSXuqHiJO8oscX"
    "MsNe4a2SBJoI7yLp3LMrFOElY7Ky8J1rJjD99zpEpygNDzeB+vhl9awsyRF8WSOY3TJqb9"
    "xnLfKqLk6okQI9yAtOBJ8+iqZa/IgY5vSjdvsBDPCUIWqhK9Q4xwSjcvMyiCTK3a4A7Roc"
    "7M8MLxV9Mhyo17NFsSspK1UNVi2LLAWrFs+4XG8KzKsdRpSvPqkU7RQ1FNhRAwBglc5pm8"
    "/GWacEpmspoix+T17c0PYfd0qtOQ69zpYOa3tQvd6RD2MY96lRB2HXP9+JVKx1w/ccx1he"
    "pL5wHw+58+IhsWFNMO6A6raV6Km20Hqy5kCP/WZgBKkrOcQJQMqcUBKWElUCM2mvtDU24d"
    "BKRFFIgb2xhZgBMAo6qibwF0gLzf9kD+JQSkDByXbQ+YZwNSHnszHYbSrzCUaEopsZtCtb"
    "XgDY9oHW7SmWFhJX6XCr1h/xGS23AQhA7kaSuQR4eXjDS8ZPT0DsxHPCRqF5QwVqMqYwKn"
    "XfGlHGtXTwcamTaP15nQPTeMZu3h2jLa7E6xOKSikNGSUIqmvKKDo1QbmzsxNmdmbgPMRr"
    "l4w5q1VTmNf629KpvyQe5/zmFufmR07aDUIu1lw85g1TRJaT4WvQGZAxjUNPkbiwqZSJs2"
    "gFwajGUoE72DgnWvQCrYFTbxe3vlTUzoWDZi+Vbqdh6Te4TWznIX3s8baheJmS71FX2o1v"
    "93iZWnXl1b1vvjk14lVDHEjJDk5oMVd9Ikw/L+apkRUG+ter21kmOlaAUKIdrOts8GtMSL"
    "pSK5IUSTu7eIjpjRatwGCE1tldrjqsb3CKPp3UfvnSRNld8dSBve90/enF3NOSE2gk7J7M"
    "3b3cwIaY3SqKVbWs9vb68T6sn5VToS/fP780uhLaY4zwk5Ua5o9cgyVvWcHN72uhsfx6hK"
    "WX3icigW2wvizPFikmOzSfU4KLPcsKCvNF+JzhXtNx8gFY8UWzfm21ZmhP+NgfBe33kFqh"
    "x0jxiXh457ZWm9TrJcFfbK1Jooa65p7K46urBnppdgCJVkUgwzQstA8+YXV349Sgdg7RD9"
    "OPpKPnY0R19pL3jxlzDMdKEqSWLaKa49uO0y/EgP7sXZp4uzd5dP5WqcihdZiFXns5cSma"
    "e8pnqUKq886Gv4GZYVldfwCcBHAWwxAG0pk7Zg6fn4rAPAZD4LReKR+A6Jf6POoq8pS6qK"
    "hYs4eVps87d/hDrr3zZXJJ3jRaFUSsCaEUx9UHD/cXz88uXr48OXp29OXr1+ffLmMJJP2U"
    "tlgur86gcpqxKrzH41mCITieGuoxOkoFop6LtS0BNjgVzq0I9Cjyf5WYeJ6+WyVvY0lrGu"
    "Fc7FCRPExDbexnPkx1VIV5XMF5zbMCezsCpI7/H7tcfvUQbhCHjWYSud2U308TWtBqzoLM"
    "KI3JMK3J4UUnuiswg7c1d6tQtq1Z1NITXVe6l+wPWOt0oCNdF7M2OVMwufNKdwSNTOUV5J"
    "nX1psbmeF01unizOLVlUuKmIIbozqh8NZD8hN9K1TFAJ4AgNUAMxOFUKIPYjp+r4HuPAbg"
    "a5y835mMZ4GLnsAzYMaF+u9uV2Io7aLP3YtnMh4L7AtbAbmXLHguhniB9ZzYFbTK/2CfTL"
    "J+D9q7BAhf31MZapxanoGEulcL8YpB/xfvJ5o4n3G06M68DLCzH8JzJUqz4mQB1SHVjch+"
    "m4EZTdQXujaphNArWBa5+By8IUmWHF7aoTOgHqcELbpKtjGxuuZirvrW5KTKG0OTETnqAW"
    "mlA/LKFnRX/aXuW4q8Kr31vzWoFX8SilKRsBNLs9LQHTa46b18u828OFwZB4sKW6mKWQ3S"
    "1op23lqje9okHXpURxDscxXaZQbzgZpDLmwo16OYAdSJcDUCgHEB6guEJKtokUbHQmuaPj"
    "KnNa9Co5Fz5nXjPmLinMK9RSTHUSNcI1sA2ql2toypWMIqWzcVMwTXYlsuUTvHodzHARNd"
    "bY2eTFTJdqHrl4rX9k9Q/bJvcGdpVs+wmQtu43bt2nmK1UxiPs34+hGFVhhSWClM8Q5IEY"
    "UdkB5WJ15fSsEJpRBFcGukOOAedif25w90hRXS+6hVbeFZR3cwnzg5DKsrdjoBHN7U6St2"
    "OGQuJiU5n6OEpzX5d7XTuneEDGlSavD1gf86jnxDFnDlj3wxnrjHoS2cCo90z2DneQ/W9b"
    "oQRGtozAI48ov9hQihweHqo9wE++KDY4mcwjj5R5JFVVT90ZJEFPct79IJkKYxHjhWDrU/"
    "YpU4J2jJx5NXEeyVS6As8YeQp9STZ57Lz62b/TNakyp/q5nmepajNH4zND1icZ78s3FE1y"
    "0jSSHQ7KMjWk+9VgYd+K1faCEQM7XFQND5omcrksh7cS/3r1nGWJZ4pcG27BvRgmcv9Wnt"
    "wloMgS7WIYZe1n77rvCU6UjmrvUV+ce8yX2AHYKzZN0VxycSCrTqM7RLfApcREjIFn8q4u"
    "xWsoGldoK3vLJnOJzNXzxxausvACMSV31w4xOgduUzkVxekrOgGwWaMyenCx+ChrbPWSSJ"
    "2XPOCtXsuLXe4hll77vqWt4tmVxWOqsw/7lX0YVQdWNuIngeMpStixGV9+VKopoHHM+IJz"
    "ms8DpcRW4jfsP8IKEA3HqDqE43lOyGRx0McOocM+EtpKE2EfnHC3RrxfCqZFyn6R4lGGHP"
    "njVUO001Ad66EQ6+GRZ0PGDcZRTvpXedxBGqujD3T0gfZDD6JIf8yonbN5TZq8i7ewaSP7"
    "ftPspWe6DHChzfMgtG4C4iB5rp5pbyxp65QWUOCvpNICannnlGTr9zdx0y/OF+eruL5xZf"
    "rJV2lEZYgLrL2VB6NIg2po0I1MtfLEQAd4QeYAhyes+N8N8L4WsIYr5FljvzjizjY25YEr"
    "nmEWQE7W2BQ3pYSx0JiLmD5ooIfbejEjjGXAS1UtMI7pMD+vLd277RRTitZEHv+jlIOeAI"
    "2O5ObVbPE4jhzuc6TAcxo3OqpbyWCaEStnLz9FD4WuHKvrskxPsFOfXv4yLd+pRzra9e3N"
    "D2H39PY9ncAUHOxcPXkpADzKbNKzvUvX9hGPxFxTd0naegwzPstIK3Ik0kpVeE6AGiG6R3"
    "74o9PDSvrHYYkCkqmJ1fmpR72eyc0XaoHKBcfg46qN9Zrf5jXoJZdmZw75Rik9MYnqLohk"
    "KLnRRYyWldgsYLNNTS48rXO4+7/80vLF6vIjS8v3TDp0rTF7YfxqoWZxyIhM/Y1JiqGdta"
    "ujzeqdgjHHDmbLWuOcguoEsj6PM0WuLNtgkk2e5bdQTKZhuoBrWlD6TmMkqzQof0FprP6E"
    "+vwJdR3O3rOhHN9xNj0juCi/6aDaaTbi8eDm8/X1U51mc4YoNpeTHA98cOWgzPsOd310BP"
    "mQPumDElfzHaJM0UwWg4wwxPb4pMoZ1qJXobHBu5YpuKtkiHQ79jB3Z4Y8rGRJPyyxpB9m"
    "LOmBu1jFHxeDdB/IPHCX3JOGlH37H9g5stk="
)
