from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "audit_log" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "actor" VARCHAR(64) NOT NULL,
    "action" VARCHAR(64) NOT NULL,
    "target" VARCHAR(128) NOT NULL,
    "outcome" VARCHAR(16) NOT NULL,
    "details" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_audit_log_created_277f5d" ON "audit_log" ("created_at");
CREATE TABLE IF NOT EXISTS "instruments" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "symbol" VARCHAR(32) NOT NULL UNIQUE,
    "base" VARCHAR(16) NOT NULL,
    "quote" VARCHAR(16) NOT NULL,
    "last_price" DECIMAL(38,12),
    "last_price_at" TIMESTAMPTZ,
    "last_price_source" VARCHAR(16)
);
COMMENT ON TABLE "instruments" IS 'A tradable symbol and the last price seen for it (from alerts or the exchange).';
CREATE TABLE IF NOT EXISTS "price_bars" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "symbol" VARCHAR(32) NOT NULL,
    "interval" VARCHAR(16) NOT NULL,
    "open_time" TIMESTAMPTZ NOT NULL,
    "open" DECIMAL(38,12) NOT NULL,
    "high" DECIMAL(38,12) NOT NULL,
    "low" DECIMAL(38,12) NOT NULL,
    "close" DECIMAL(38,12) NOT NULL,
    "volume" DECIMAL(38,12) NOT NULL,
    "closed" BOOL NOT NULL,
    "source" VARCHAR(16) NOT NULL,
    CONSTRAINT "uid_price_bars_symbol_80d85d" UNIQUE ("symbol", "interval", "open_time")
);
COMMENT ON TABLE "price_bars" IS 'One bar of a symbol''s price series at an interval, built from alert prices or candles.';
CREATE TABLE IF NOT EXISTS "telegram_updates" (
    "update_id" BIGINT NOT NULL PRIMARY KEY,
    "received_at" TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE "telegram_updates" IS 'Telegram update ids already handled, so a redelivered update is acted on once.';
CREATE TABLE IF NOT EXISTS "trading_bots" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(64) NOT NULL UNIQUE,
    "symbols" JSONB NOT NULL,
    "strategy" VARCHAR(32) NOT NULL,
    "size_kind" VARCHAR(16) NOT NULL,
    "size_value" DECIMAL(38,12) NOT NULL,
    "direction" VARCHAR(8) NOT NULL,
    "max_entries" INT NOT NULL,
    "sl" VARCHAR(32),
    "tp" VARCHAR(32),
    "trail" VARCHAR(32),
    "interval" VARCHAR(16),
    "max_lag_seconds" INT NOT NULL,
    "approval" VARCHAR(8) NOT NULL,
    "paused" BOOL NOT NULL,
    "webhook_key" VARCHAR(128) NOT NULL UNIQUE,
    "passphrase" VARCHAR(128),
    "allow_ips" JSONB NOT NULL,
    "risk" JSONB NOT NULL,
    "chat_id" BIGINT,
    "topic_id" BIGINT,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "deleted_at" TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS "current_positions" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "symbol" VARCHAR(32) NOT NULL,
    "quote" VARCHAR(16) NOT NULL,
    "side" VARCHAR(5) NOT NULL,
    "qty" DECIMAL(38,12) NOT NULL,
    "avg_price" DECIMAL(38,12) NOT NULL,
    "entries" INT NOT NULL,
    "opened_qty" DECIMAL(38,12) NOT NULL,
    "exit_qty" DECIMAL(38,12) NOT NULL,
    "exit_value" DECIMAL(38,12) NOT NULL,
    "realized_pnl" DECIMAL(38,12) NOT NULL,
    "fees" DECIMAL(38,12) NOT NULL,
    "sl" DECIMAL(38,12),
    "tp" DECIMAL(38,12),
    "trail" VARCHAR(32),
    "opened_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "version" INT NOT NULL,
    "bot_id" INT NOT NULL REFERENCES "trading_bots" ("id") ON DELETE RESTRICT,
    CONSTRAINT "uid_current_pos_bot_id_61d124" UNIQUE ("bot_id", "symbol")
);
COMMENT ON TABLE "current_positions" IS 'An open position. Deleted when flat; its life is then one `trade_history` row.';
CREATE TABLE IF NOT EXISTS "orders" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "client_order_id" VARCHAR(64) NOT NULL UNIQUE,
    "symbol" VARCHAR(32) NOT NULL,
    "side" VARCHAR(4) NOT NULL,
    "order_type" VARCHAR(8) NOT NULL,
    "qty" DECIMAL(38,12) NOT NULL,
    "price" DECIMAL(38,12),
    "status" VARCHAR(12) NOT NULL,
    "filled_qty" DECIMAL(38,12) NOT NULL,
    "avg_fill_price" DECIMAL(38,12),
    "fee" DECIMAL(38,12) NOT NULL,
    "fee_currency" VARCHAR(16),
    "broker" VARCHAR(32) NOT NULL,
    "broker_order_id" VARCHAR(64),
    "intent" VARCHAR(16) NOT NULL,
    "reason" VARCHAR(32) NOT NULL,
    "webhook_log_id" INT,
    "error" TEXT,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "bot_id" INT NOT NULL REFERENCES "trading_bots" ("id") ON DELETE RESTRICT
);
CREATE INDEX IF NOT EXISTS "idx_orders_webhook_d214aa" ON "orders" ("webhook_log_id");
COMMENT ON TABLE "orders" IS 'Written before the broker is called (status pending), completed after.';
CREATE TABLE IF NOT EXISTS "position_entries" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "position_id" INT NOT NULL,
    "symbol" VARCHAR(32) NOT NULL,
    "kind" VARCHAR(8) NOT NULL,
    "side" VARCHAR(4) NOT NULL,
    "qty" DECIMAL(38,12) NOT NULL,
    "price" DECIMAL(38,12) NOT NULL,
    "fee" DECIMAL(38,12) NOT NULL,
    "gross_pnl" DECIMAL(38,12) NOT NULL,
    "reason" VARCHAR(32) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "bot_id" INT NOT NULL REFERENCES "trading_bots" ("id") ON DELETE RESTRICT,
    "order_id" INT REFERENCES "orders" ("id") ON DELETE RESTRICT
);
CREATE INDEX IF NOT EXISTS "idx_position_en_positio_c8f165" ON "position_entries" ("position_id");
COMMENT ON TABLE "position_entries" IS 'One fill applied to a position: an entry, an add or an exit.';
CREATE TABLE IF NOT EXISTS "strategy_configs" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "strategy" VARCHAR(32) NOT NULL,
    "params" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "bot_id" INT NOT NULL REFERENCES "trading_bots" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "strategy_configs" IS 'Parameters of a bot''s strategy; the newest row for a bot is in force.';
CREATE TABLE IF NOT EXISTS "trade_history" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "position_id" INT NOT NULL UNIQUE,
    "symbol" VARCHAR(32) NOT NULL,
    "quote" VARCHAR(16) NOT NULL,
    "side" VARCHAR(5) NOT NULL,
    "qty" DECIMAL(38,12) NOT NULL,
    "entry_price" DECIMAL(38,12) NOT NULL,
    "exit_price" DECIMAL(38,12) NOT NULL,
    "pnl" DECIMAL(38,12) NOT NULL,
    "fees" DECIMAL(38,12) NOT NULL,
    "entries" INT NOT NULL,
    "opened_at" TIMESTAMPTZ NOT NULL,
    "closed_at" TIMESTAMPTZ NOT NULL,
    "reason" VARCHAR(32) NOT NULL,
    "bot_id" INT NOT NULL REFERENCES "trading_bots" ("id") ON DELETE RESTRICT
);
CREATE INDEX IF NOT EXISTS "idx_trade_histo_closed__fb2aea" ON "trade_history" ("closed_at");
COMMENT ON TABLE "trade_history" IS 'A position''s life from open to flat.';
CREATE TABLE IF NOT EXISTS "users" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "telegram_id" BIGINT NOT NULL UNIQUE,
    "username" VARCHAR(64),
    "role" VARCHAR(8) NOT NULL,
    "notify" JSONB NOT NULL,
    "totp_secret" VARCHAR(64),
    "created_at" TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS "webhook_logs" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "key_hint" VARCHAR(16) NOT NULL,
    "remote_ip" VARCHAR(64) NOT NULL,
    "content_type" VARCHAR(128) NOT NULL,
    "body" TEXT NOT NULL,
    "alert" JSONB,
    "alert_id" VARCHAR(128),
    "dedup_key" VARCHAR(160) UNIQUE,
    "symbol" VARCHAR(32),
    "action" VARCHAR(16),
    "http_status" INT NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "reason" TEXT,
    "order_id" INT,
    "received_at" TIMESTAMPTZ NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "bot_id" INT REFERENCES "trading_bots" ("id") ON DELETE SET NULL
);
CREATE INDEX IF NOT EXISTS "idx_webhook_log_receive_69b8d5" ON "webhook_logs" ("received_at");
COMMENT ON TABLE "webhook_logs" IS 'Every webhook request, refused ones included, with secrets redacted.';
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSONB NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztXWlz2zYa/isYfWk6483Y8pFsu7MztuO23jp2JlE2mR7DQCQkYUwRLAjaVrv57wvwvk"
    "XIJEWy+BSHxANSD0DgvfHXZE0MZDovz10DsxuynHwH/ppYcI34H7l7B2ACbTu+Iy4wODe9"
    "xlC00syg2dxhFOqM31hA00H8koEcnWKbYWLxq5ZrmuIi0XlDbC3jS66F/3CRxsgSsRWi/M"
    "avv/PL2DLQE3LC/9r32gIj00i9LzbEs73rGtvY3rVri/3gNRRPm2s6Md21FTe2N2xFrKg1"
    "tpi4ukQWopAh0T2jrnh98XbBTw1/kf+mcRP/FRMYAy2ga7LEz51r8bWJpt3ezbQPVzNNm0"
    "gQpBNLkMtf1fF+/VK8wj+mRyevTl4fn5285k2814yuvPrqPzomxgd69NzOJl+9+5BBv4XH"
    "cUwqH0VC87xeriAtJjYCZLjlL53lNmSyitzwQsxuPKO6oHcNnzQTWUu24v89O6ng8r/n7y"
    "9/On//4uzkW/FAwj8A/9O4De5MvVuC7hS94o3k+A0QiuAaBDNI+UoiQ3CM6I7gyaQTeo+m"
    "r2vwy1uVEuzdSzNMXKYT/qcExQnICCfx0Vkdks/KOT7LUmwgBrG/4aYp/s+Hu9tiihOQDM"
    "UG1hn4HzCxk9vsGpvO/1q4lrdOgbmLTYYt56V47L/bmuYVhAuKRM9rx/nDTBL94u355+wY"
    "XN7cXXiUEYctqdeL18FFZkB0igRlGixYWd7wOwyvUfG4pJHZoQmgL8M/mhmgTuUR/vuMO8"
    "vcBM+tGJnZ9durD7Pzt+9Sw/PmfHYl7ky9q5vM1RfZzybqBHy6nv0ExH/BL3e3V9lRjNrN"
    "fpmId4IuI5pFHjVoJCgKr4Y0fhXC5uI+IRmJC3Oo3z9Cami5O2RKytrmb62n6+wVaMGlN2"
    "SCXPGagQx+6VKKLPaOODgYkJyYnm1SKa3rfmPNDlo7taT2ybkFiI0sEMJegjfIRHxqgscV"
    "v7wwIfseYObwxWWBAHYAE5eJhcAX3rOBtBVfdAjdfAGUPL6cZCZUC90XaBO/TubE+/aczX"
    "pOzMnvSr3Yo3oRDIKE7BAjRig6HE9riA7H01LRQdxK71R/uIRJyWYRYIT0Ni+ZOdiQYjds"
    "P0JyT2twe1pK7Wlu4rJNgWyFdLyGZsnM9RFZmcqHvAygA6S5gtc3V5fXb89vXhy/PjjyVw"
    "UuL2GGkpyfHOaMDg9LzaZYL5i5lQSncIrmbTRzAYtiVKC1lUoNCcR20aEpSo96LTok7Axc"
    "NOSKk/y6kAaqebt13j5htgPNSdh+SD4cFMMP0HRlV+A0ULFcyTJF0MR/8i/ftgo0jEqes1"
    "DFdCXTC1S0zVUyHEIUs5XMOrIz12lmvgY2htHuccyW5NUHKF638cr7ljLnRICdNOKe0dm2"
    "MSeQZOW9DilgN06HvszjPnkZQk5ybobkILu2saNvKY0c4TAP1LlUMOzB28ej/oCoUxgJUm"
    "osSCC6Mxa0JTg1bSyYE6ZJOWxiQHdk9txvk/N9pujNc/sDoQgvrZ/RxqP4mr8QtAqNhYHL"
    "ckahwX/EBRkiw1/DGRRejcURCh8j/2FiYnECDM+fKS6/5wvG++tLzvN+PMpidKi7Rt5755"
    "zJibsHVX5kHLWr60EGwlMr4MB35AFoGcKPC0zoMOBZl4GDhLeXUIAZeLGgZA2giShzAL8k"
    "mqInfQWtJfq2wIXcfP8qIlW5jPtEb8s6xhw6Uh7NsP0IPZrNu4uVN75VesUav5NnMw1UVp"
    "4tVp6Yrh201By4AUV1OIT3XC/NmyMSw+UQlxZ9WuXLVyF4fJa+ZlaynsSa3lHDk3JzSoF/"
    "o1IfIKJJTVXgE8WMcUF8jrgojjzBe07JPaIislOHpokM8IKrkMx1gI0soSl+ewB0srb9mF"
    "C4YIjmNYDmulWCf78Ef93EImbZm2OFxp3ydagAOjpVoPncqf1rWr1a5ZvXtVT0aERunclb"
    "PndzU9f/0j2CJPhNozpM/1tDeu/nHLbPdJ0UwPIEwFz6n4rTbU3N2kWTVUpsXXZ9GVBq+Y"
    "0QHS4NgYzazdpwVGeLOyrf4o5yW9wCC4l7h3DSNFCFiVXOZRGZLwjbOaw/DVZrxxa+F0iW"
    "5ACh5vE2XjU/N1UvWC/KV+YsTpmYthvLfauIlKsnQoxQAWnBk+bRtZO9ogA6vindvMGCPy"
    "cIWahLdIwY4ZRufs2gCDpy5YpiRIcys4OXlr+bDnHdeETzFSH3opiaXAxbHrhTLNv2RWN4"
    "VuVE7hWlRQXNZuipLCkzBIxhBa7yTF59nqWckrlCOZFj8ubu9sewebZ6zpAL5ahg5u92rp"
    "SjQtjHPOp1QthVzPXzdyoVc73nmOsa5RsuAuAPP79HJiypxhnQHZbjuuKdbQYrLuQI/9pm"
    "AEqas4JAlByp5QEpYSkxLTGa20NT7iwEhEUU8I5NjAzACIBRWbLvALSA6G9zIP7iC6QIHB"
    "fXnjDLB6Q8tzMVhtKvMJRoSkmxm0G1teENj2gVbtKZYeGe/y4ZesP2IyS34SAIFcjTViCP"
    "Ci8ZaXjJ6OkdmI94SNQuKXGcHco6pXDKFV/JsXL1dCCRKfP4LhO654bRvD1cWUab1RTLQy"
    "pKGa0IpWjKKzo4SpWxuRNjc27mNsBslIs3rFlbl9Pk19qrsinvhP5zAQvzI6N7B5UWaS8b"
    "dg7rpkkK8zFvDcgCwKCmyTdOVMhE2LQBZMJgLEKZ6APkrHtn7oC4sInf2itvokPLMJFTbK"
    "Vu5zGFZ3DElruwP2+obcRnupBX1Kkcf+8SK/veXVuW+5OTXiZUMcSMkOTmgxXj1STH8vZq"
    "mRFQqVa9Vq3EWElagUKIsrNtswGt8HIlSW4IUeRuLaLDZ7QctwFCUbuNWt0kRUXMKsmNMI"
    "rebfQ+CNJk+Y1ByvC+ffIWaDUXhJgIWhWzt0i7mRPSGqXRlW5pvbi7u0mJJxfX2Uj0j28v"
    "rri0mOG8IOREuqLVM8tY7ebk8NTrbnwcoypl9YGJoVhuLom1wMtJgc0m0+KgynLjBG2F+Y"
    "o3rmm/eQcpfyRX3RzftjIn7BsHhH197xWostAjcpg4tdQrS+s1EuWqsFemVkd5c01jvaro"
    "wp6ZXoIhlFqTEpgRWgaaN7/Y4uuROk49RqjT1FN779/vNHWVLrTddFMnSUw5xZUHt12Gn+"
    "nBvTz/cHn+5mpfrsYZf5El33U+eimRRcJrpkWl8MqCtpqfYVlTeA2fAHwUwIYDoCnWpA1Y"
    "eT4+4wA4Ip+FIv5I/ID4v1Fj3lYXJVX5xkWsIim2+e6fIc763RYuSRd4WboqpWDNLEx9EH"
    "D/OZ0eH7+aHh6fvT49efXq9PVhtD7lb1UtVBfXP4q1KrXLbBeDKdIRH+5dZIIMVAkFfRcK"
    "emIsEFsd+onL8aQ46zB1v3qtFS21VaJpjXNxwgQxrsabeIH8uArhqhL5ggsTFmQW1gUpHb"
    "9fOn6PMghHwLMKW+nMbqKOr2k1YEVlEUbkntbg9rSU2lOVRdiZu9KrXbBT3dkMUlG9leon"
    "vNvxVmmgInprZqx0ZuFecwqHRO0CFZXU2ZYWW+h5UeQWrcWFJYtKlYoEojuj+tFA9AmhSO"
    "9kgkoBR2iAGojBqVYAsR85tYvvMQnsZpC7VM7HNMbDyGUfsGFA+XKVL7eT5ajN0o9tOxcC"
    "7ktcC/HIVDsWeDuN/8h6DtxyepVPoF8+Ae9fiQ0qbK+OscxsTmXHWEqF+yUg/Yj3E88bTb"
    "zfcGJcB15eyMF/Ik226mMK1CHVgcV9mI4bTtkDNF1Zw2waqAxc2wxcBqZIDytu153QKVCH"
    "E9okXR3b2HA1U9G3vCkxg1LmxFx4glxowu5hCT0r+tP2LsdsGV791orXGrzyR0lN2Qig2O"
    "1pCZhec9y8XOZ1D5eag/iDDdnNLIPsbkM7aytXvekdDdo2JZJzOInpMoXaZWSQwpgNXfly"
    "ADFIlQOQKAcQHqB4j6RsExnY6ExyR9M6c5q3qjgXvmBeO469orCoUEs51WnUCPfANqiGpk"
    "keNWxLmUBTIGUEbdwISrFzLzMeYft+DMW48s9XsNh9XZX3lwCNqJ50J2l/CRWT2FiXpj6J"
    "Utzvyr2qulA+IONKsFRH84551Asi4HJH8/qBMLuMehrZwKj3bO0d7iD737ZE8nQ+AfWZh9"
    "teupQii4XHsQ7wky+LKkuHgYvDCJ5JVd3zGgZJ0F5OSh4kU2EUS7KE4O6UfcgVLxwjZ141"
    "hWcyla3dMEaeQiukSZ47rz75Pd2QOnOqn/t5tyeWf3RQ4Ykw3vWDqohe10E1D4JRobz98o"
    "KVh/JGpbak7Rpp4HgqfHRs2RAflWw8dRIzPrdC80HVlJhS/IbtR5hO1bDD1yIMLwr8j+Wu"
    "gRihnAONOwcYYbYIA6GowHZSEQuVhqklZfuSogzS5dQP0zTZ84p/CT2nQHhPa0HlInxW79"
    "pe7O/qAdENCHCAIj7FHHbA/1iIqB1ALCSK9Ouma4j6p4+YrYC/kjiiDqpX9DRfDLCJTn+z"
    "frO+8PuuLWJZvogSqw5iHGtuRJVVcagA1HVki6qrwRO84wes4ABIHJZr9b8b4H0tYA3v+b"
    "M5+DeL92xiXVRv1VdIvweQkTXWeafiYHZgU6Ijxyk/N1KpNXtUa/iM0FYBL3V3wSSmw2C/"
    "tmSPtuNVKVoTUUtYKqA9BRodyS2IGcRiyGI+RxI8Z3Gjo7qV2LM5MQp0mRl6Ki0MYXSd47"
    "kHTWV29XlWralEMtrN3e2PYfOs+pIN8wtOiaof4hcAnqU29kxL6Vo/9EgsNPVVxMAnMOPT"
    "DFtZRyKpVIbnFKgRovsUlX12WEv+OKwQQHIJtp2XUO71TG4+6wtKZy/D56Uu95rf5iXoFR"
    "NmNwaZK5PtlUF1l+k1lESvMkar6nWUsNmmJBce/TFc/a+4Tl25uPzMOnU9Wx26lpi9yC65"
    "wnVJyIhizxtbKYZ2cI8qqblbSc0FtrCz2mmcM1AVU9znce66smfPhnJ8hT17RnBZvN5Bvb"
    "qe/PHg9uPNzb7qep4jivXVpMB9GNw5qHIdwriNCv8b0id9UOEne0DUkdTxE5ARxkdNT+uc"
    "5sNblWpK3r1c6REpK4rdsXusOxvKYS0z4GGFGfAwZwYMfF0yzoQEpPsotIH7E/YaD/P1/0"
    "olH9M="
)
