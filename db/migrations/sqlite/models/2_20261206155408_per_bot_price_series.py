"""Price series per bot (SPEC §5: an alert's price moves the strategy of its own bot only).

`price_bars` gets a `bot_id`, unique on (bot_id, symbol, interval, open_time). The rows stored
before keep bot_id NULL: history for `/chart` and `/backtest`, never read by a strategy (each
bot's series starts from its own alerts, or the exchange's candles). Downgrading deletes the
per-bot rows (a cache rebuilt from alerts) so the old unique index holds again.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE "price_bars_per_bot" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "bot_id" INT,
    "symbol" VARCHAR(32) NOT NULL,
    "interval" VARCHAR(16) NOT NULL,
    "open_time" TIMESTAMP NOT NULL,
    "open" VARCHAR(40) NOT NULL,
    "high" VARCHAR(40) NOT NULL,
    "low" VARCHAR(40) NOT NULL,
    "close" VARCHAR(40) NOT NULL,
    "volume" VARCHAR(40) NOT NULL,
    "closed" INT NOT NULL,
    "source" VARCHAR(16) NOT NULL
) /* One bar of a bot's price series of a symbol at an interval. */;
        INSERT INTO "price_bars_per_bot" ("id", "symbol", "interval", "open_time", "open", "high", "low", "close", "volume", "closed", "source")
            SELECT "id", "symbol", "interval", "open_time", "open", "high", "low", "close", "volume", "closed", "source" FROM "price_bars";
        DROP TABLE "price_bars";
        ALTER TABLE "price_bars_per_bot" RENAME TO "price_bars";
        CREATE UNIQUE INDEX "uid_price_bars_bot_id_ac03ea" ON "price_bars" ("bot_id", "symbol", "interval", "open_time");
        CREATE INDEX "idx_price_bars_symbol_80d85d" ON "price_bars" ("symbol", "interval", "open_time");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DELETE FROM "price_bars" WHERE "bot_id" IS NOT NULL;
        DROP INDEX IF EXISTS "idx_price_bars_symbol_80d85d";
        DROP INDEX IF EXISTS "uid_price_bars_bot_id_ac03ea";
        ALTER TABLE "price_bars" DROP COLUMN "bot_id";
        CREATE UNIQUE INDEX "uid_price_bars_symbol_80d85d" ON "price_bars" ("symbol", "interval", "open_time");"""


MODELS_STATE = (
    "eJztXWtz2zYW/SsYfakz483YTuxk052dsR2n9daxM7Gy7bTuMBAJSRhRBANCttVu/vsC4E"
    "N8i6ApmuTgUxwQh6QOwIuL+8LfoyWxkO29PF1ZmF2R2egd+HvkwCXif2Su7YMRdN3NFdHA"
    "4MSWnaHoZdhBt4nHKDQZvzCFtod4k4U8k2KXYeLwVmdl26KRmLwjdmabppWDv62QwcgMsT"
    "mi/MIff/Jm7FjoEXnhf92FMcXIthLviy3xbNlusLUr2y4d9kF2FE+bGCaxV0tn09ldszlx"
    "ot7YYaJ1hhxEIUPi9oyuxOuLtwt+aviL/DfddPFfMYax0BSubBb7uRNj0zYyjOubsXF7MT"
    "aMkQJBJnEEufxVPfnrZ+IV/nF0+PrN67evTl6/5V3ka0Ytb777j94Q4wMlPdfj0Xd5HTLo"
    "95Acb0jlo0holtfzOaT5xEaAFLf8pdPchkyWkRs2bNjdzKg26F3CR8NGzozN+X9PXpdw+d"
    "/Tz+c/n37eO3n9QjyQ8A/A/zSugytH8pKgO0GveCM1fgOEJrgCwQxSLklUCN4g2iN4NGqF"
    "3sOjtxX45b0KCZbXkgyTFTMJ/1OB4hhkgJP48KQKySfFHJ+kKbYQg9hfcJMU/+f25jqf4h"
    "gkRbGFTQb+B2zsZRa7xqbzv6YrR8opMFlhm2HHeyke++9dTfMSwgVF4s5Lz/tmx4ne+3j6"
    "W3oMzq9uziRlxGMzKu8ib3CWGhCTIkGZAXMky3t+heElyh+XJDI9NAH0ZfhHMwPUqj7Cf5"
    "9149jr4LklIzO+/HhxOz79+CkxPO9PxxfiypFsXada99KfTXQT8Ovl+Gcg/gt+v7m+SI9i"
    "1G/8+0i8E1wxYjjkwYBWjKKwNaTxu1A2p4uYZiQaJtBcPEBqGZkr5IgU9c1eWh4t0y3QgT"
    "M5ZIJc8ZqBDn6+ohQ57BPxcDAgGTU93aVUWzf9zoYb9PYqae2jUwcQFzkghL0E75GN+NQE"
    "D3PePLUh+xFg5nHhMkUAe4CJZuIg8JXf2ULGnAsdQtdfASUPL0epCbWD2+fsJv4YTYj89r"
    "z1ckLs0Z96e/GM24tgEBR0hw1igKrDq6MKqsOro0LVQVxKrlTfVoQp6WYRYID0Nq+ZedhS"
    "YjfsP0Byjytwe1xI7XFm4rJ1jm6FTLyEdsHM9RFpncqHvAygPaS5hNf3F+eXH0+v9l693T"
    "/0pQLXlzBDcc5fH2SMDvczw6XYzJm5pQQncJrmbTRzBYtilLNrK9QaYojtqkNTlB52WnWI"
    "2Rm4asg3TupyIQnU83brvH3ErAbNcdjzkHzQK4bvob1SlcBJoGa5lGWKoI3/4l++6+TsME"
    "p5TkM106VMT1HeMlfKcAjRzJYy66nOXK+Z+RrYGAa7xjFXkVcfoHndxiu/t5I5JwLU2hF3"
    "jM5dG3MYXCC+AyNTzJScQWlcNzxC4nmD8QjJeWy4CC5UBUsCqAVMFQFjeIwoC/AEUPO8hW"
    "fTJh5/oMHIAinFp2SAwxPszUephKTV8CcnkA34kzvGfE/8xyEnGQdyjgVLfZATwHZiBvQg"
    "1xzklWvVDA1JIgc4zD2NDckZ9uDtN6N+j6iXG8hZaOuPIdqz9e/K7tG0rX9CmKEUb7EBtE"
    "dmx8MuMqFLCXqz3H4gFOGZ8wtaS4ov+QtBJ9fXF0QcjSm0+I84I31k+Hs4g8LWjepD4UMU"
    "/hObWJwAS4YjiebPXGB8vjznPD9PQJgYHbpaIvnemViw2NX9sjAwHPWrGgAGRKCVgAM/Dg"
    "dAxxJhWMCGHgPSOQw8JIK1CAWYgb0pJUsAbUSZB3iT6IoezTl0ZuhFTgRY8/fXCSU64qtL"
    "9O7YRDiBnlJAUth/gAFJzUd76WC6ndIrZHytwKQkUNv2ttj2NnTV2KVmwNrm1J19adYcER"
    "suj6xo3qdVLL5ywcOz5zYjyTqSKnJDLanlZjYF/oXS/QARXSpuBX6lmDGuiE8QV8WRVLwn"
    "lCwQFYkZJrRtZIE9voVkKw+4yBE7xRf7wCRL10/pgFOGaHYH0NxtteLfLcXftLFIOZJzLN"
    "e4U+ZTykAHtxVo3qn0/DutTkn55vdaOvkjIrfK5C2eu5mp63/pkiAFfpOoFrP3l5Au/JIB"
    "u2e6SgZ/cf5+Jntfp9nsbJtVZyerN7FV2fV1QCXxGyFaFA2BjtqObDisssQdFi9xh5klbo"
    "qFxl0jGyQJ1FHepXNZJNYJwmpn5SXBWnZs4XuKVEkOEHoeb+PV8EtLmDnyolgyp3HaxLTd"
    "WO5bRZRcPRFigBuQHXjSJF217BU50OFN6eYNFvw5QchCVaI3iAFO6eZlBkXQU6s2uEG0qD"
    "N7eOb4q2kf5cYDmswJWYhaqGoxbFlgrVi27UKjf1blWOo0pXn1SMfosaimQggYggQu80xe"
    "/DZOOCUzWU2RY/Lq5vqnsHs61anPde50MPO72oXudAj7kEe9Sgi7jrl++kqlY66fOea6Qv"
    "WlswD44ZfPyIYFxbQDusNqmhf8ZuveqgsZwr/vMgAlyVlOIEqG1OKAlLASqBEbze2hKTcO"
    "AsIiCviNbYwswAiAUVXRdwA6QNxvvS/+4gJSBI6LtkfMsgEpT72ZDkPpVhhKNKWU2E2hdr"
    "Xg9Y9oHW7SmmFhwX+XCr1h/wGS23AQhA7k2VUgjw4vGWh4yeDp7ZmPuE/UzijxvBpVGRM4"
    "7Yov5Vi7elrQyLR5vM6E7rhhNGsP15bRZneKxSEVhYyWhFI05RXtHaXa2NyKsTkzcxtgNs"
    "rF69esrcpp/GvtVNmUT2L/cwZz8yOja/ulFmmZDTuBVdMkhfmY9wZkCiDgc+0HL6piIgza"
    "fntY64QJy7GIaaL3kNMvK6UCWeFE5EFKnDz0KtdI3fhT7hz/TuTBCSusmJDStbBwR93DYi"
    "s/iIuOZXPo3u2ni3Nwtzo4gG+OpYFcosGS3Ps3BoI0hmbrO4e/mDjQSzyCPwwQx16/eAm+"
    "+h/lV3D95erqnfhJ/LeJo72QFSaGBj/sAfG/XUQFeh8skMtEZZg7h7+UeF9RPUbMHIa84H"
    "8Ouue9hRcXTNaClOBVSo8LC6byxl4ZsicnuIv49y20tPRRYn9UQ2jbf1u2/7YVuY6Jb23x"
    "79n+Mi40VEJiQ8wASW4+KHYjjTMsb6/KGgH1Fr7TW3gxVorWxhCi7bnbbI1zPJsrkhtCNL"
    "lbizXxGa3GbYDQ1Fapca/q5Ikwmt5t9N4L0lT53YC0g2f75M3Zy5wRYiPolMzevP3MhJCd"
    "URq1tEvr2c3NVUI9ObtMZzx8+Xh2wbXFFOc5Gx3lymlPLJdWz5kmzSzt+NIGVTLtNrABnR"
    "NnimejHNtgqsd+mYUwtCgJMynvXNFO+AlS/ki+dfPiRrzwXj9Ks5mDHpDHxOH2svyx7CTK"
    "omFZDtlE2eDVxu6qo1i7ZckKh1BJJsUwA7QMNG9+ccXXo3TQ2gbRjSPWxGMHc8SajrYo/h"
    "L6mZZWJRlRB1/oSIHdMvzESIHz09vz0/cXz+XSHvMXmfFV54tMvc1TXlM9SpVXFvQ1/Eze"
    "ispr+ATgowC2PABtIZPWYC69wtY+8ETeFEX8kfgeCU9u2Jn3NUXpXr5wESdPi23+9k9QZ/"
    "3b5oqkMzwrlEoJWDOCqQsK7j+Pjl69enN08Ork7fHrN2+O3x5E8il7qUxQnV3+JGRVYpXZ"
    "rgZTZCI+3HV0ghRUKwVdVwo6YiwQSx36GYtolNzs1sT1clkrehrzWNcK5y+FiYh8G2/jKf"
    "IDcYSrSuSlTm2Yk8FaFaT3+N3a43coU3UAPOuwldbsJvqYpJ0GrOhs1Yjc4wrcHhdSe6yz"
    "VVtzV8oaGbXqG6eQmuqtVD/ieseoJYGa6K0Z2MoZrM+au9onaqcor3TTtvTrXM+LJjdPFu"
    "eWxircVMQQ7RnVD3uynxAb6VomqARwgAaonhicKgUQ+5FTdXyPcWA7g9zm5nxIY9yPmgk9"
    "NgxoX6725bYijnZZYnTXzoWA+wLXwmZkyh0LvJ/Bf2Q1B24xvdon0C2fgPxXYYEK++vjUl"
    "OLU9FxqUrhfjFIN+L9xPMGE+/XnxjXnpex8vBfyFCtLpoAtUh1YHHvp+OGU3YP7ZWqYTYJ"
    "1AaubQYuC1NkhpXdq07oBKjFCW2Tto4Hbbhqrri3uikxhdLmxEx4glpoQv2whK5VJ9nxKs"
    "dcFV793prXCrzyRylN2Qig2e1oCZhOc9y8XiZvD2eGh/iDLdXFLIVsb0E72VWuetMrGnRd"
    "ShTncBzTZgr1ipFeKmMuXKmXA9iAdDkAhXIA4UGdC6Rkm0jBBmeSOzyqMqd5r2LRfJQzrz"
    "3PnVOYV6ilmOokaoBr4C6oni+hKVYyipTOYE7BNNmVyBZP8IuqGi6ixhI7q7yY6VLNIxev"
    "9Y+s/mHb5MHArpJtPwHS1v3GrfsUewuV8Qj7d2MoBlVYYY4gZRMEWSBGVHZAuVhdLDcrhC"
    "YUwYWB7pFjwCnfnxvMPVRU14tuoZV3BeXdnMP8IKSy7O0YaEBzu5Xk7ZihkLjYVKY+jtLc"
    "1+Ve184pHpBhpcnHR90vOlFn1JNIPepdGfWcOObg7WPebxnOWGfUk8gGRr1jsre/g+x/2w"
    "olMLJlBHK0+rMA+uGXz8iGBbEPQfDp+YpS5LDw8PYefvJFscHJZB5xdNETqap6ulMvCSqM"
    "+FBhKJxFFyK3d6hMhbGI8UKw9Sm7zZSgHSJnsibOE5lKV+AZIk+hL8kmT51Xv/p3uiJV5l"
    "Q31/MsVbvM0fjiIetWxPuyFUWjnDSNZIf9skwN4X41vLBvxWp7wYiBDS6qhgdNE7lMlMML"
    "j0KTJZ4pcm24Bg98mMiDOE9NQJHF2/kwitrP8rrvCU6Ujtrdo+6cB8zm2AFYFpumaCq42B"
    "dVp8UJbWvgUmIizwN7waF0S8gbF2gteosmc47MxYunFq6y8Ax5Su6uDWJwDtymciq6cwBb"
    "12R700Zl9Ohi/lHW2OolkTovucdbvR0vdrmHpcr2bUtbxTNSi8dUZx92K/swqg6sbMRPAo"
    "dTlLBlM774qFRTQOOY4QXnNJ8HSomtxG/Yf4AVIBqOUXUIw9OckMnioI8NQod9JLSVJsI+"
    "GGFujXi/FEyLlO0iRVKGHPHjVUO001Ad66EQ6yHJs6HHDI+hnPSv8riDNFZHH+joA+2H7k"
    "WR/phRO2fzmjR5F29h00b27abZC2m6DHChzXM/tG4C4iBxrp5pryxh6xQWUOCvpMICaslz"
    "SrL1+5u46Z1z53zl11euSD/5KoyoHmIca6/FwSjCoBoadCNTrTgx0AEyyBzg8IQV/7sB8m"
    "sBS7hA0hp75/A729gUB65IwyyAjCyxyW9KieeFxlzk6YMGOrit5zPCmAe8VNUC45gW8/N2"
    "pXvvOsWUoiURx/8o5aAnQIMjuXk1mz+OIYf5HCnwnMYNjuqdZDBNiJWzlx+jx0JXjtV2Wa"
    "Zn2KmPL34bl+/UIx3t6ub6p7B7evueTmAKDnaunrwUAJ5kNunY3qVt+4gkMdfUXZK2HsMM"
    "zzKyEzkSaaUqPCdAjRDdIT/84clBJf3joEQBydTEav3Uo07P5OYLtUDlgmPwadXGOs1v8x"
    "r0nAmzM4NspZSemES1F0TSl9zoIkbLSmwWsLlLTS48rbO/+7/80vLF6vITS8t3TDq0rTHL"
    "MH61ULM4ZECm/sYkRd/O2tXRZvVOwZhiB3vzWuOcguoEsi6PM0WuKNtgklWe5bdQTKZhuo"
    "BrWlD6TmMkqjQof0FprP6EuvwJtR3O3rGhHN5xNh0juCi/ab/aaTb88eD6y9XVc51mc4oo"
    "NuejHA98cGW/zPsON310BHmfPun9ElfzPaKeopksBhlgiO3RcZUzrHmvQmODvJYpuKtkiH"
    "Rb9jC3Z4Y8qGRJPyixpB9kLOmBu1jFHxeDtB/I3HOX3LOGlH3/P1fofVM="
)
