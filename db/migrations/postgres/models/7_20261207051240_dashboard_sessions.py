"""Dashboard sign-in (SPEC §10, issue 17): one-time sign-in links in `login_links` and the
sessions they (or Telegram's initData) open in `dashboard_sessions`, both stored by the SHA-256 of
their token only, so whichever process serves a request finds them."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "dashboard_sessions" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "user_id" BIGINT NOT NULL,
    "via" VARCHAR(16) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "revoked_at" TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS "idx_dashboard_s_user_id_d53632" ON "dashboard_sessions" ("user_id");
CREATE INDEX IF NOT EXISTS "idx_dashboard_s_expires_81f310" ON "dashboard_sessions" ("expires_at");
COMMENT ON TABLE "dashboard_sessions" IS 'A signed-in dashboard (SPEC §10): found by the SHA-256 of its token (the token itself is';
        CREATE TABLE IF NOT EXISTS "login_links" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "user_id" BIGINT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "used_at" TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS "idx_login_links_user_id_79acf2" ON "login_links" ("user_id");
CREATE INDEX IF NOT EXISTS "idx_login_links_expires_75e081" ON "login_links" ("expires_at");
COMMENT ON TABLE "login_links" IS 'A one-time dashboard sign-in link (SPEC §10), stored by the SHA-256 of its token: it';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "dashboard_sessions";
        DROP TABLE IF EXISTS "login_links";"""


MODELS_STATE = (
    "eJztXW1z2ziS/isofxm7SuOznTjJJVtbZTuemew4dip2bqZ2PEVBJCThRBEcErSt3ct/Pz"
    "RISnwXIVM0xcWnOCQegHoAgt2Nfvn33pxZxPYPz0yTBQ6/JZxTZ+LvvUf/3nPwnIg/ypoM"
    "0B523VUDuMDxyJYYHDY2/GTrkc89bHJxf4xtn4hLFvFNj7qcMgdQd1OCIuQPPmKPDvKoP0"
    "NeYBMfYcdCXDSYUdtG/iPl5hTt3365vED3wdERfvsGH7xHzCHIY48DRC10fAijWswUw4pn"
    "2MYA9869M4Quhoj6aPhV/PUV+jrkzPhfnzlDxMayz9Wg4Vj7GI1Y/AzYI4g6iHLRhezsQH"
    "R8l3kSnzPXR8QRv0XgmWMvPqAhNDDCBgZ0PEQwab4cEv4v/sAcCYjrEksMcO/sD+f4ybA8"
    "/GiJoYcHA3QNP+lxSsRzOPA4xEM88BzZXoxziIY2mWBzYbg48Ik1fA9PLthKPR0b3zsjMm"
    "YekWMH7sTDFkEhBO2LnqI/H6dMPBb0IIb2iB/MxcXRQqLG1PN5dBHhMRdPQrmcxMChfwXE"
    "4GxCRENPTOUff4rL1LHIE/Hj/7ozY0yJbaVWL7WgA3nd4AtXXvvk8J9kQ1gfI8NkdjB3Vo"
    "3dBZ8yZ9maOhyuToigBnNiJdavE9h2tOTjS+GjigvcC8jyGa3VBYuMcWDDWwDo8AlW1/YM"
    "4/rmzri9vDOMvdwbEiMSazq6ZDIH3i7xrOHLO4FH+PHk+PXb1+9evXn9TjSRj7m88vZ7OP"
    "SKmRAo+bm+2/su72OOwxaS5BWrsEzzvP7j9ua6mNi4fYZai5oc/R+yqb8RxfGFFcerjWVJ"
    "6N/GgWMCf2gUUFvsRv4hDPv3vS1RX8Er8AM9z33/LxsuXP/P2deLX86+7n8++/0A7jCxQY"
    "Y76PXF1c25pIz5fOLJXmQH53JqVlOR2APyM3LOxOuGneJJySAzczMS0G1NyvJKu/yf39xc"
    "pfg//3SXYf3b5/PLr/vHcjJEI8pJ8oUoZN0YLfLEX0yxt5b1CJkhXvyYrb0M21r0e/BVsY"
    "kz4VPx3+OTdxWzEK950Sq75qNbJ+G9csZ96pgkT/pHQRenc7Ke+GUH2Q0p6uEw/qPGTET7"
    "utJEbHHrr2D+7tPny9u7s89fUi/Bx7O7S7hzIq8uMlf332QmadkJ+u3T3S8I/ov+eXN9md"
    "2rlu3u/rkHz4QDIRQ57NHAVpKT+HJ8qXTOPYKFRJWf9DvyVPI1L0b34G2rmuLL3++qPzHL"
    "Gb66uf45bp797pS/eiBWbrrdxdiNpqBjr1l6x3t1UmPDe3VSut/BrTTnKaFbRdTKAbshc8"
    "F4Oy1zgYYxniWkYbgwwubsEXuWkbvDTlhZ2/yt+ck8ewU7eCLphV8Mvy9Ww13XYw/YvhA9"
    "7RWp6cn7g0odPWppmKJpTQ39RuiKJnMXoNcKdTHuAkEXaN8U2uYACQXUF88u9DufCX2Pml"
    "PyIFQ50dIUd0C/Y/ZDpKTGHeQ09W0NdC8UW1C0oeUiGkGIAmh/KH65JQY/ZAEfsacUj7dc"
    "KLZCK++iKhpti/+xmugjGU0Zmxk2mxhKBOeBzej9+Q1y9+he0QtvWiGv53RSSm0CtC1O2/"
    "3Wh6T+98nJq1dvT45evXl3+vrt29N3R0t287eqaD7/9DMwnfr25KmPtjdl9tM4PQEbT4Ap"
    "lAZBkYG5qqqZRjagY3ZtlxG/z7px7EU07o7onBFFOZWzK6JdIESTKzYpFOvie9UiHbSCL1"
    "otaa58urWQ0y0hR8wi81S07iWgPWtHa7r2m9c1dO03r0t1bbiV3uix1FUV+aVtm5N2mGCO"
    "PbGTqBC8QvTAXteCdVxorSabK1nmEpAeLuLjN3VIzgoaCY7fZCm2CMc0/ODWtcUlIN2wwv"
    "Xq5FPL51o+b1M+P2f8i0dNslcgny/vVcrnI8YNF5opOETZ2OdIghDB5jTpN2QTj/tgEvUo"
    "sZBLPOQv5iMmFoS0hkovIelWFDoPiaHAoSdna93KKOAalXCeOn0vzbjQl+g3HGjOYuusRA"
    "5Q+NGPPLHEarbFA0a9srEcAh5IPJoc897Zxw4D/SR6Wtk7cqQR2LSZLzqfU4ccfBAjOVQI"
    "xD64WYWIyEhMwEyMpauTuEoOkeDi3iFP5hQ7ExI/qR//VHjiyHQcDhk9eOTBNaTwFgZzIl"
    "7DYZm1+A9YBXAvZHHvT61ZvaBmFU2Cgti0QvRQamr+HNONd8XM95mYdI7tYoqXmOyXOQQd"
    "RuAdZLuC3Y+XF58+n13tv3o3OD7J+B/FzL8+ytLrE+JsIAAlYO1IP11huUviTi0XGJ8FXt"
    "ELVLFBLREtqs7y29uS/ty4ZgdimdLXdQXo0/HKsz6yORk9RW+e25+YR+jE+ZUsJMWfxAPh"
    "Yp+8SMK+C8/nz9kuMvw9XkHx1ZUY5eHHpbCXWFiCAPGzSbj/X5zdXpx9vNz7/jKKz0XgeU"
    "Km/cJ8Gv3wnP6TbVKpBplhY8ONWtfUhs6E8O4SB8WwQ/RRMmSF4QtjG/MPUkuw6ZhAQAaH"
    "yxDeIJ07iDGlQl73FkOI4MirQc13r6X/DmxMWvp/Qen/r4BxJeFlCeghvc0LLj611ETDqH"
    "0PyT2twe1pKbWnuYXLC4I6KpXWCKFV1nUqK36YGJtYBVI4TfM6mqNQUQWpIYFoT6057rTo"
    "kDhgFaIhsQz1fSEN1Ot27bp9onwDmpOwlyH5aKcYfsB2oLoDp4Ga5UqWPYJt+i/x5rtOgY"
    "ZRyXMWqpmuZHpMij5zlQzHEM1s9emC6sr1m1mvHYv1a5xX7iryGgI0r+t4BacBFYV4CdAh"
    "qeuNORzPiNDA2JhyJS+4LK4brnA7H5CaW/iGS3BBVpbqjSUF1BtMnQ3GAK+fjXiOgZrnNT"
    "yD+5YY0OBsRpQc83PA/m3szbvnx6Rt4EibQupkKl32JIkMUeqTnAJqd6FOT3LgWhv6xKeR"
    "PZzmHXWKL5j26OlXs/5APL8wgq3U1p9AtGfr35bdo2lbv/YHez6f2h9si/5gX8WG8fXTxd"
    "1LOYR9xP50xCAzDvH9Eo+wXJtBlUuYFbc2/LB5XZ8w5ItVQ6wfqYOWfaTS9h4fHQg0C5xl"
    "ntnbX85+PDl9E8eUSFUB7cOd8E9xkdjinnyEtIvYNke7d8LQFXAiI9bBAD1gm1oocDi10Z"
    "A8uVR8MMTneSgu2WGCowfRgxj/v2w2YQGPLkAgjC3zJqHAJ94Pvk5c1EXfMzn7xlSsIiWD"
    "ZQrVjB/Py9K8Zd0WXgHlFDoJUI+SQrWcPueBYpWVHTXvoWta835/uxX5rJX5wWbK/Oqbrz"
    "rNaWT/Atz7NMuRGLfBLKeR2vratVnuSN6Cy78Cyhe3Dnb9KeNf5QPm1LV8o0GVvkZkc8OP"
    "2tfW1qR/PwoDgMzFDz4KO0KYy0iaOYPgecgEMJOxNVGw/ZjC8gj/nrLAkxkCBMTn2OMFkT"
    "xbGQYyGnyMCqcsi8VYGHq3mVDHIAmATCYw9tgcbvokUz9mgJZZZsPnGR58gGAhib13Hj3K"
    "uXwek8gBolQGMheBVVOJ+2MVQiG2hT+1TtemTqfDXbYq9qp/IbWY29FPY0rMlXthwdRW+i"
    "IvQdqlfp03xQjbuLhgShXDCZSmuK63tyLHSZgmeR3JgbMhzWmgJnod0eDxIbZreA6s6gKe"
    "w2q6a9GdSoZQUy7PA/Vhfi6LOxTCUZHJl4AeyuR1Ms+W552VWWc7YtT4tEy1t1dgzUjcHV"
    "SZMRIJ++paMECDB3iUBXFpCUgkDUwkUxwzKGKK9qMsijNCXGhNPV9mUoRchtQpMGBsYZR7"
    "Z7jKPzn8gHAEhsSHoc0iztAobhDQjfywfiyMTX0k67fKZI8Yyr/K4aHGjsf1AXMXjREvn9"
    "ykQwfLzUfDjLDaZyVu38OvSvOWHm1I2yq9sHdvlIMjDdRhLGsE+xVdG5zu5cD6gK/LVszE"
    "dKnn7CwE9y90qZmdrCMayBWbUOeKOrO9AgVkdbNS/7ChmWGLdrX1D+aQH+FtTzigglMquK"
    "RCP1lv1EHkT1rljvpe/Fmgg2xppHvnkXkzP667CWqF9Gr1CQcoRmIJWTS0H6FvX+DlPpA6"
    "iNQ98u6wWvnooPKhvVu1d2u7S1kXh+zKN79PUp12wfxPmOVIBlGd4gRM62Zdm9+OaAnXjN"
    "MxNXFZ4vTU/UpdwUm0VKgflYShsLh9WnI/TrglhveHB+/BC1IsBCREdT4VMvkdscnEw3MU"
    "VZce5PSFLY61co2MVIuoelN4POEGI5v6UyIPSOZSU/BFf3Fbm2CLeAOoz0SFDuGJ/xyioY"
    "sXNsPW8N4JE7mHz/CDj8JpFXrJ0lMTboiX3iLm8D2KbFw+nIGEv90/+BCOFztyohlxufgZ"
    "Fl7U9tmEDqKdRAhmal6bVaJez9SVVmS8cqVGy3zlE7SbyRXKKg6mcj7BNOXmu0KJjdr38C"
    "SieQU22ofz/Jank0tA2s8k9zIC11ZyxjGPTqhScq0VQhdlrlOUOfFVV/lYJGBardBqRaFa"
    "cQNy7F6BPhHeqFQkpAxcU4P4LRa8yZgJ0RYk5ZHHZsQDjyAT2zbkn/A55gG4GjkgMR8MkM"
    "nmblg6CY+5kLdzykJz3WrDf7cM/6ZNYfuSa6zQMl2VuzEH1UcAayWol3fz6pSI2ryjly6y"
    "tCS3zuItX7u5pRu+6ar6VRrVoiQ6x96MtFTktAFHbV3OqhUfr5ctcL070v2GFSikDKi0/S"
    "4RLW4NkYzalq5aS1Wt0FRzFVQoSNwbVF1KA3U1lcq1DAXsgLCNq9+lwXrvWMP3mKiSHCH0"
    "Ol7HqxGnVlHZmbM47d+63lM/tIqosLxC9FAB2UIYj6RrI3tFAbR/S7p5g4UYJ4rLrEv0Ct"
    "HDJd38nuER7Bclgy8neIVoUWYGX/Lwa7qL+8YjGU0Zmxk2m6jlis8DN3LCXb9p7J5VOeF2"
    "6Xms4Kt3R57KahfHgD7swFVnZJe/36WOx3Inwcsjsqub65/j5tnjYe3LrP1adKmYvs16wa"
    "F1rlSMrm3y/C9VzgdA1zZpt7ZJQlBwxMMUlX8+j4A//fqV2Evv6mK6v0QZlC5FZ4udFRdy"
    "hH/fpgNKmrMCR5QcqeUOKXEGKyMxm+tdU24cIjP2ItGxTcH9m0FOm6iv95DNBvpbDGReGw"
    "t8v+W1J1qQMvi5nWk3lG65oSyXlBK7GVSPoiMb08y0u8mWDQsz8btU6I3b95Dchp0gtCPP"
    "thx5tHtJT91Lek/vjp0R7xK1E4/5vuE6qgmEUzh9FF/JsT7qaUEi0+bxTRZ0xw2jeXu4to"
    "w2qymWu1SU5zMvd6Vo6lR05yjVxuZWjM25ldsAs8tYvN1atXU5Tb6tnSpP/gX0n3NcGB+5"
    "vDeotEjLVJwjXDdMEszHonVYdVustR/8KLm6T8CgHV6PU7lDRnUEPk3eAxb0jwJq82XRuB"
    "Anc5IUGqkbH+XeCXuSVe3C/PEm9rwFWLiXzRNp503sWLaAJvO6nL5f5Y6fs4ewY8iPItb8"
    "ZHHvRCkgYQjIRQ+JHA8O0TB8KYfo+tvV1Xv4Sdhb5pAMA0OjH/YIKeqjTPaDML+KuH3viI"
    "eC54WUL7ByOPGj/4WV82Q1PplSMn6UMlv9H4kNYmWvjNmTCxxKbUgp7c989pY6CG37b8v2"
    "37Yg17HtW1v8d0y/TG4aKi6xMaaHJDfvFLvajXMsV+vwKaBW4TutwsNcKVobY4i2566zNU"
    "7ppCCZcyW5MUSTu7ZSRFhwW4HbCKGpXUetabOiSj2V5C4xmt519D4Aaar8rkD6gGf94i1K"
    "+smYTbBTsXqL9JkRY1ujdHmlXVrPb26uUuLJ+adsxMO3z+eXQlrMcF6g6CiXbXlmrZbNDt"
    "OkmaWds7Re1Wu5jWxAF8wZ08legW0w02JQZSGMLUpgJhWNa9oJv2BPDClUNz9pxIv7+iDN"
    "Zg55JL5MJyzrOuKwfKMPCYzF/02Sd15trFftxdotS1Y8hUp7UgLTQ8tA8+YXF96eggiCqg"
    "y0MaL9BLR7fxsHjikTrEuTPnX8Qxj279v6IlTQvZW0tNrbovxN2M2wtDrBiNr5QnsKbJfh"
    "Z3oKXJzdXpx9vHypI+24JsY3GXpbJLxmWlQKrzxqa4SRvHWricR1OUIUopaPsA170gJN5a"
    "mwNUA+xE15RAxJHwic5MaNRVuTywrisvJfXoptvvtniLNht+ql1ZKwZjamLgi4L1x3wyMm"
    "EdO9iUyQgWqhoOtCQUeMBfCpI79Q8EYpjG5N3a/ea6GlMU00rVHkNQ5EFGq8TcckdMSBoy"
    "qISx3buCCCtS6oTjmiSFxY+YqHFkV4ibQvy39qHGsPeNZOLa1ZVf4KGFeypS8BPaS3eXcW"
    "Hcu6JPe0BrenpdSe6ljW1g4zZQaNjbIfZ5Ca6rVUP1G+GdMpoCZ6bXy2cnzri0a27hK1Y1"
    "KU2GldcHbhuYwmt2gvLkycVapUJBDtmdyPd0SfADV7IwNVCthD89SOmKNquRevrCCKk5wC"
    "tjPJbSrnfZrj3ciosMOGAX3Sq096W9mOtpmAdNtHDxH3JQcPq5mpPnYQ7QzxI+sd75bTq7"
    "0Cu3UmIP9V+EDF7XUx1czHqayYqpIzYALSDW9AGK833oC74wG740mufPovYqjmHk2BWqQ6"
    "srjv5sGNoOwB24GqYTYN1AaudQYui3rEjPO+113QKVCLC9pmbRUPbTinLvStbkrMoLQ5Me"
    "eeoOaasLlbQtdyl2z5K8ddFV7D1prXGryKoZSW7BKg2e1ogphOc9y8XCa7xxPDJ2JgS/Vj"
    "lkG290F7s61I9qa/aNh1Paa4hpOYNgOsA852UhhzcaCeLGAF0skCFJIFxGU8Z0TJNpGB9c"
    "4kd3xSZ02LVuVb80nBuvZ9d+rhojQu5VSnUT38Bm6D6ukcm/Al84hSheYMTJNdi2wYIUy5"
    "arjEM+bUCYp8pislj0K8lj/y8odts0eDukq2/RRIW/cbt+571J+pzEfcvhtT0au0C1OCPT"
    "4imEfbiIoGVIjVqXTzm9DII3hmkAfiGHgs9HODu8eK4npZF1p4VxDezSkudkKqiu1OgHq0"
    "tlsJ7U4YCplLTWXqkyjN/abc68w65RPSryD65KyHKSk2mfU0Us96V2a9wI85evrE6bd0Z9"
    "xk1tPIBma9Y3vv7k5y+G4rJMjIVBEtEOnPI9xPv34lNi5xfIg8T88Z/xLHBe7Yi17mEZy2"
    "MkZJE55J00XgecThX6Le+sqWLP70TKrq1sfaSYJKvWJUGIpX0SXEP/eVqdhfM5lKd3PKbn"
    "NJfPvImcwq9EymsjmM+shTfN5ms+euq9/Cnq5YnTXVTZknT9U241i++cS6BZ9oHnhkryCU"
    "Jd1gUBXNAkfUhh+3rZmvMJoxtMIt8wli0yQuh4SCcTE5mSTbI66NF+hRTBN7hIp0ACWWuC"
    "6mEbJny/vhaXkq+db2hrp3HimfUgdRma7bI2PgYgB5u6HG3QK5HhOinY/2o7J+cywuzsgC"
    "WsMlc0rM2cFz8yFadEJ8pSPBFaJ3h9xNxZ10p4Rd1/b2pg3v5Mml4qXcQB1OI3Xs9g6rw1"
    "v+2BWWm5XX133aalaZLZ9THaHZrQjNZX5l5YOONLA/iRtbPuqAl0o1TDaJ6Z8DU/Oxsh6z"
    "lfiN2/cwS0bDfrwO43Rc4FZa7hizQmjXmJS00oRrDGfc3cAnMgPTW8r6LUVSRhz48apu7F"
    "mo9odR8IeR5NnY54bPSUGIXLVvRharPTS0h4Y+q9+JMgcJo3aB8po2eZersFkj+3rT7KU0"
    "XUa42OY5iK2biDkEKhOadmCBrRMsoCj8koIF1JKVXvIVEJro9N65d4bifuBCiM4QjKg+4Q"
    "JrL6C0DBhUY4Pu0lQLNRcdJB3xEY1r1ITvDZJvC5rjGZHW2HtH9GxTE0rWSMMswpzNqSk6"
    "9Zjvx8Zc4utyjB1U68WKMKYRL3WlwCSmxRjGbcne2w7D9cicQQElpTj9FKh3JDcvZovhOH"
    "F4yJECz1lc76jeSpTXiFkFuvwdeSo9yrHaTl31Apr63eXvd9Wa+lJGu7q5/jlunlXfs0Fe"
    "UWns+gFeEeBZZpOO6S5t20ckiYWm7orQ/gSmf5aRrewjS6lUhecUqBGiO3QOf/zmqJb8cV"
    "QhgOTyhrVeGarTK7n5ZDZYOSkbfl5Gtk7z27wEPeVgduaYB0ohnGlUe04kuxI/XsZoVRrS"
    "Eja3KcnF9U53V/8rTr9fLi4/M/1+x3aHtiVm6cav5mqWhPTI1N/YTrFr1Yq1t9lmlULG1K"
    "H+dKN5zkB1kF2X59kjLqS2MFlQZPkt3SazMJ3kNrtRhofGBDJZKL9BWax+hbr8CrXtzt6x"
    "qexfyZ+OEVwW3zSoV/FHDI+uv11dvVTFnzPiUXO6V3ACH90ZVJ2+41Ub7UG+S6/0oOKo+Y"
    "F4vqKZLAHpoYvtyWmdOt+iVamxQd7LJSVWMkS6LZ8wt2eGPKplST+qsKQf5Szp0XGxynlc"
    "AtK+I/OOH8m9qEvZ9/8HEl4YyA=="
)
