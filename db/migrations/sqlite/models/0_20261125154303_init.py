from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "audit_log" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "actor" VARCHAR(64) NOT NULL,
    "action" VARCHAR(64) NOT NULL,
    "target" VARCHAR(128) NOT NULL,
    "outcome" VARCHAR(16) NOT NULL,
    "details" JSON NOT NULL,
    "created_at" TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_audit_log_created_277f5d" ON "audit_log" ("created_at");
CREATE TABLE IF NOT EXISTS "instruments" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "symbol" VARCHAR(32) NOT NULL UNIQUE,
    "base" VARCHAR(16) NOT NULL,
    "quote" VARCHAR(16) NOT NULL,
    "last_price" VARCHAR(40),
    "last_price_at" TIMESTAMP,
    "last_price_source" VARCHAR(16)
) /* A tradable symbol and the last price seen for it (from alerts or the exchange). */;
CREATE TABLE IF NOT EXISTS "trading_bots" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "name" VARCHAR(64) NOT NULL UNIQUE,
    "symbols" JSON NOT NULL,
    "strategy" VARCHAR(32) NOT NULL,
    "size_kind" VARCHAR(16) NOT NULL,
    "size_value" VARCHAR(40) NOT NULL,
    "direction" VARCHAR(8) NOT NULL,
    "max_entries" INT NOT NULL,
    "sl" VARCHAR(32),
    "tp" VARCHAR(32),
    "trail" VARCHAR(32),
    "interval" VARCHAR(16),
    "max_lag_seconds" INT NOT NULL,
    "approval" VARCHAR(8) NOT NULL,
    "paused" INT NOT NULL,
    "webhook_key" VARCHAR(128) NOT NULL UNIQUE,
    "passphrase" VARCHAR(128),
    "allow_ips" JSON NOT NULL,
    "risk" JSON NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS "current_positions" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "symbol" VARCHAR(32) NOT NULL,
    "quote" VARCHAR(16) NOT NULL,
    "side" VARCHAR(5) NOT NULL,
    "qty" VARCHAR(40) NOT NULL,
    "avg_price" VARCHAR(40) NOT NULL,
    "entries" INT NOT NULL,
    "opened_qty" VARCHAR(40) NOT NULL,
    "exit_qty" VARCHAR(40) NOT NULL,
    "exit_value" VARCHAR(40) NOT NULL,
    "realized_pnl" VARCHAR(40) NOT NULL,
    "fees" VARCHAR(40) NOT NULL,
    "sl" VARCHAR(40),
    "tp" VARCHAR(40),
    "trail" VARCHAR(32),
    "opened_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "version" INT NOT NULL,
    "bot_id" INT NOT NULL REFERENCES "trading_bots" ("id") ON DELETE RESTRICT,
    CONSTRAINT "uid_current_pos_bot_id_61d124" UNIQUE ("bot_id", "symbol")
) /* An open position. Deleted when flat; its life is then one `trade_history` row. */;
CREATE TABLE IF NOT EXISTS "orders" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "client_order_id" VARCHAR(64) NOT NULL UNIQUE,
    "symbol" VARCHAR(32) NOT NULL,
    "side" VARCHAR(4) NOT NULL,
    "order_type" VARCHAR(8) NOT NULL,
    "qty" VARCHAR(40) NOT NULL,
    "price" VARCHAR(40),
    "status" VARCHAR(12) NOT NULL,
    "filled_qty" VARCHAR(40) NOT NULL,
    "avg_fill_price" VARCHAR(40),
    "fee" VARCHAR(40) NOT NULL,
    "fee_currency" VARCHAR(16),
    "broker" VARCHAR(32) NOT NULL,
    "broker_order_id" VARCHAR(64),
    "intent" VARCHAR(16) NOT NULL,
    "reason" VARCHAR(32) NOT NULL,
    "webhook_log_id" INT,
    "error" TEXT,
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "bot_id" INT NOT NULL REFERENCES "trading_bots" ("id") ON DELETE RESTRICT
) /* Written before the broker is called (status pending), completed after. */;
CREATE INDEX IF NOT EXISTS "idx_orders_webhook_d214aa" ON "orders" ("webhook_log_id");
CREATE TABLE IF NOT EXISTS "position_entries" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "position_id" INT NOT NULL,
    "symbol" VARCHAR(32) NOT NULL,
    "kind" VARCHAR(8) NOT NULL,
    "side" VARCHAR(4) NOT NULL,
    "qty" VARCHAR(40) NOT NULL,
    "price" VARCHAR(40) NOT NULL,
    "fee" VARCHAR(40) NOT NULL,
    "gross_pnl" VARCHAR(40) NOT NULL,
    "reason" VARCHAR(32) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "bot_id" INT NOT NULL REFERENCES "trading_bots" ("id") ON DELETE RESTRICT,
    "order_id" INT REFERENCES "orders" ("id") ON DELETE RESTRICT
) /* One fill applied to a position: an entry, an add or an exit. */;
CREATE INDEX IF NOT EXISTS "idx_position_en_positio_c8f165" ON "position_entries" ("position_id");
CREATE TABLE IF NOT EXISTS "strategy_configs" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "strategy" VARCHAR(32) NOT NULL,
    "params" JSON NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "bot_id" INT NOT NULL REFERENCES "trading_bots" ("id") ON DELETE CASCADE
) /* Parameters of a bot's strategy; the newest row for a bot is in force. */;
CREATE TABLE IF NOT EXISTS "trade_history" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "position_id" INT NOT NULL UNIQUE,
    "symbol" VARCHAR(32) NOT NULL,
    "quote" VARCHAR(16) NOT NULL,
    "side" VARCHAR(5) NOT NULL,
    "qty" VARCHAR(40) NOT NULL,
    "entry_price" VARCHAR(40) NOT NULL,
    "exit_price" VARCHAR(40) NOT NULL,
    "pnl" VARCHAR(40) NOT NULL,
    "fees" VARCHAR(40) NOT NULL,
    "entries" INT NOT NULL,
    "opened_at" TIMESTAMP NOT NULL,
    "closed_at" TIMESTAMP NOT NULL,
    "reason" VARCHAR(32) NOT NULL,
    "bot_id" INT NOT NULL REFERENCES "trading_bots" ("id") ON DELETE RESTRICT
) /* A position's life from open to flat. */;
CREATE INDEX IF NOT EXISTS "idx_trade_histo_closed__fb2aea" ON "trade_history" ("closed_at");
CREATE TABLE IF NOT EXISTS "users" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "telegram_id" BIGINT NOT NULL UNIQUE,
    "username" VARCHAR(64),
    "role" VARCHAR(8) NOT NULL,
    "notify" JSON NOT NULL,
    "totp_secret" VARCHAR(64),
    "created_at" TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS "webhook_logs" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key_hint" VARCHAR(16) NOT NULL,
    "remote_ip" VARCHAR(64) NOT NULL,
    "content_type" VARCHAR(128) NOT NULL,
    "body" TEXT NOT NULL,
    "alert" JSON,
    "alert_id" VARCHAR(128),
    "dedup_key" VARCHAR(160) UNIQUE,
    "symbol" VARCHAR(32),
    "action" VARCHAR(16),
    "http_status" INT NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "reason" TEXT,
    "order_id" INT,
    "received_at" TIMESTAMP NOT NULL,
    "finished_at" TIMESTAMP,
    "bot_id" INT REFERENCES "trading_bots" ("id") ON DELETE SET NULL
) /* Every webhook request, refused ones included, with secrets redacted. */;
CREATE INDEX IF NOT EXISTS "idx_webhook_log_receive_69b8d5" ON "webhook_logs" ("received_at");
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSON NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztXWtz2zYW/SsYfakz4/XY8iPedGdnZMdpvXXsTOJsOm06DERCEsYUwQCgbbXr/74AHx"
    "LfImSKJll8aR0QB6QOLsH7wsVfgzmxkM32Rp6F+RWZDt6AvwYOnCPxR+baLhhA111dkQ0c"
    "jm2/M5S9DDvsNmacQpOLCxNoMySaLMRMil2OiSNaHc+2ZSMxRUfsTFdNnoO/e8jgZIr4DF"
    "Fx4fc/RDN2LPSIWPRP986YYGRbiefFlry3327wheu3XTr8nd9R3m1smMT25s6qs7vgM+Is"
    "e2OHy9YpchCFHMnhOfXk48unC39q9IuCJ111CR4xhrHQBHo2j/3csbFqGxjG9c2t8eni1j"
    "AGCgSZxJHkikdl/q+fykf4x/Dg6PXR6eHJ0ano4j/msuX1U3DrFTEB0Kfn+nbw5F+HHAY9"
    "fI5XpIpZJDTL6/kM0nxil4AUt+Kh09xGTJaRGzWs2F1JVBP0zuGjYSNnymfinydHJVz+d/"
    "Tx/OfRx52To1fyhkS8AMGrcR1eGfqXJN0JeuUTqfEbIjTBFQjmkIqVRIXgFaI5ggeDRug9"
    "GJ5W4Ff0KiTYv5ZkmHjcJOJPBYpjkB4K8cFJFZJPijk+SVNsIQ5x8MFNUvyfTzfX+RTHIC"
    "mKLWxy8D9gY5b52NUmzv+aeI6/ToGxh22OHbYnb/vvbYl5CeGSIjnynLHvdpzonfejX9Nz"
    "cH51c+ZTRhifUn8Uf4Cz1ISYFEnKDJizsrwVVzieo/x5SSLTUxNC96I/6pmgRvUR8fusG8"
    "dehPctmZnby/cXn25H7z8kpuft6PZCXhn6rYtU6076tVkOAr5c3v4M5D/BbzfXF+lZXPa7"
    "/W0gnwl6nBgOeTCgFaMoao1ofJLK5uQuphnJhjE07x4gtYzMFTIkRX2zl+bDeboFOnDqT5"
    "kkVz5mqIOfe5Qih38gDIcTklHT011KtXUz6Gy4YW9WSWsfjBxAXOSACLYH3iIbCdEEDzPR"
    "PLEh/xFgzsTiMkEAM8BlM3EQ+CZGtpAxE4sOoYtvgJKHvUFKoLYwfI418ftgTPx3jy3mY2"
    "IP/tDmxQuaF+EkKOgOK0QPVYfDYQXV4XBYqDrIS8kv1XePcCXdbAnoIb31a2YMW0rsRv17"
    "SO5xBW6PC6k9zgguX+ToVsjEc2gXSG6ASOtUAWQvhHaQ5hJe316cX74fXe0cnu4eBKuC0J"
    "cwR3HOj/YzTof7qeFSbOZIbinBCZymeR3NQsGiGOVYbYVaQwyxXnWoi9KDVqsOMT+DUA2F"
    "4aS+LiSBWm7Xyu0j5hvQHIe9DMn7nWL4Htqe6gqcBGqWS1mmCNr4T/Hmu06OhVHKcxqqmS"
    "5leoLyPnOlDEcQzWwps0xVclk98hr6GHr7jeOuIq8BQPO6jlcxtpI7ZwnYyCJuGZ3bduaE"
    "mqx61CEBbCbo0BY5blOUIeIkE2aIT7LnWhvGlpLIHk5zR4NLOdMePv1q1u8RZbmZIIXOgh"
    "iiOWfBthSnup0FY8INpYDNCtAcmS2P22Rinwl6s9y+IxThqfMLWvgUX4oHgk6uszAMWd5S"
    "aIkfcUa6yPBTJEFR60odofBhGT+MCZYgwPLjmbL5o1gwPl6eC55fJqIsZ4d6c+Q/dyaYHL"
    "u6WxZHxst+VSPIQEZqJRwEgTwAHUvGcYENGQe+dxkwJKO9hALMwc6EkjmANqKcAdEku6JH"
    "cwadKXqVE0Kuf3ydkapDxm2id8s2xhgypYhm1L+HEc36w8U6Gr9VeuUav1FkMwnUXp41Xp"
    "4VXRtYqRlwDYZqdwhvuV2adUfEposRj+a9WsXLVy64f56+elayluSa3lDL13IzRkFwodQe"
    "ILJLRVPgC8WcC0V8jIQqjnzFe0zJHaIys9OEto0ssCNMSO4x4CJHWoqvdoFJ5m6QEwonHN"
    "GsBVDfsFrxb5fib9pY5iz7Mpbr3Cleh3KgvTMF6t879fKWVqtW+fptLZ09uiS3ivAWy25G"
    "dIM33SdIgd8kqsHtf3NI74I9h9tnusoWwOINgJntfzpPd2tm1iaWrDZiq7Ib6IBKy+8S0e"
    "DSEOqozawNB1U+cQfFn7iDzCdugqXGvUE6aRKo08RKZVlm5kvCNk7rT4L12rGG7wlSJTlE"
    "aDlex6sR7E01c9aL4pU5jdMupvXO8sArohTqWSJ6aIBsIZLm07WRvyIH2j+Rrt9hIe4Tpi"
    "xUJXqF6KFI179mUASZWrmiFaJBnZnhqRN8Tbu4bjyg8YyQO1lMTS2HLQvcKJdt/aLRPa9y"
    "bO8VpXkFzW7RY9GmzAjQhxW4LDJ58ettIiiZKZSzDExe3Vz/FHVPV8/pcqEcncz8ZuNKOT"
    "qFvc+zXiWFXedcP/9LpXOuXzjnukL5hrMQ+O6Xj8iGBdU4Q7qjclwXYrBFZ9WFDOFP20xA"
    "SXKWk4iSIbU4ISUqJWbEZnN9asqNg4D0iAIxsI2RBTgBcFmW7A2ADpDjLXblX2KBlInjsu"
    "0R82xCynMH02ko7UpDWYqUErsp1LY+eN0jWqebNOZYuBO/S4XeqH8Pya05CUIn8mwrkUen"
    "l/Q0vaT39HYsRtwlaqeUMLZBWacETofiSznWoZ4GNDLtHt9EoFvuGM36w7VntF5LsTilop"
    "DRklSKuqKinaNUO5sbcTZnJLcGZpd78boltVU5jb+trSqb8olLsqeLc+JMcO5xeakeu2Xe"
    "aRb2lYSIzhW90x8gFbfkiDJAJgACIYA/MBCN9aO/5dFBD4hxeQ6GX+jE7yQ3QGK/8ImJsm"
    "7q2kbV/up2+aujKVTyT8UwPfRR1a/Iu/LtUTqga4XQ53Ml9Pi/3/lcOgFlvZ1VJe1Im1na"
    "JmiH/lpgE5yPPp2P3l68lPIqqUc/B2ek5amuieulimviuLVqWutomfLwQ3iAm195zz/wjR"
    "P/cLe8cn7VQFrnbJfO2aIciR7wrFMk9HF5/dg/pPMk9HF5nYs2+9mZG+2sTyE11ZUOxtqI"
    "6QRQE70290c5d+JFsya6RG3nDsPqErn6TM3BFs7U1AcK9Tn7xLQJ28wXHgc2M8lNGud9mu"
    "NuZOt12DGgYws6ttDIctTVA4Vi3BeEFlYzUx5YEP0M8SOrZcMU06tjAu2KCfj/V/hARf11"
    "oe7Ux6moULdS+kkM0o78E3m/3uSfdCfnquMbKBj+Exmq+1oToAapDj3u3QzcCMruoe2pOm"
    "aTQO3gWufgsjBFZlRTpKpAJ0ANCrRNmipMXfN+bTm2uisxhdLuxEx6glpqgj73veJXjrsq"
    "vAa9Na8VeBW3UhLZJUCzu55dWVuX3kMlguOY/nFcv17mDw+nBkPixpbqxyyFbO6DdtKVc+"
    "Sh61KiKMNxTIPKmIwPdFIZc6HHUI4Bd0aIjaBTtH0mAqUoHhOyNUNi2dKsJXF2c3OVcFGc"
    "XaZL735+f3Yhlo6UmZGV56hE9B1S8k2kYL1zyR0Mq8i06FVy8k2OXDPmzqjiedpJVA+/gd"
    "ugGto2eTCwq+QCTYC0E7R2JyjF7E5lPqL+7ZgKvR9S74dscVaILsP+d5z1nFygZTnmikeH"
    "ZzdpPbPE9bl/7haPijJ3UBiKMi+ylVueSVXVqi2dJOhF6qV3kqm8si+bU5YtONNHzvwdx8"
    "9kKr2/uY88xc6AeiZbX4KRrkgVmWqZyVlI1TYz4D4zP8ssk/vmt++WZb15LPy06HS33qS7"
    "cWSjKYXz3KzhMzwtJDgF7M8u+H8Oh4eHr4f7hyenx0evXx+f7i85z14qI//s8ifJf0LBzr"
    "o65UulmnMYx/TP9VZ/4iElthK/Uf8ebjmoOSjiEI4nOT76YvfZCqEdaLU70DjhrgyVUqR0"
    "vGwKppeU9UuKdlUWU99Np1WRq1LBabVNtT1m5+Qo70krqFiFT9td6wtiXdwjugAhDlAkRI"
    "zxXfHHREa2AXGQLKxq2p6FrF3wgPkMBCsJE30sMTSysgWz6hj0q/PV+Saue66M936TBV4Z"
    "4gJrL8R//EKw0DSRK/pGd/BLxjoA2ohygMXITJ5xFrw3wH9bwBzeiXsL8FdHjGxjU7x3wJ"
    "wh8w5ATubYFIPK4xmAS4mJGENMV/ZqoVkjJMKYYbVD1uOYBhNitqV7bP+Q9TnhyMBKSZ8J"
    "UO9I3oKaQRyOHB5wpMBzGtc7qreSnzEmVo4tU3zmetS/B+yWKWnbOHHd/war2I1LwLPMxp"
    "ZZKU3bhz6Jua6+kjzRGKZ/luFW1pGlVqrCcwJUC9Ftylw82a+kf+yXKCCZTWiNlxlttSTX"
    "vzMCKu/wg8/b3tdqfuvXoGdcut045J7KjogUqrndEF3ZDFHEaNme9gI2t6nJUWQifI+ip+"
    "mc9BbVcipWl59Zy6llq0PTGrM+Ta72lSJ6BTfw4qeguuxce1JNsxnGE+xgNttonlPQGua5"
    "Ze9Un+a56ep3LZvK/hW/axnBRfl6u9Vq34nbg+vPV1cvVftuhCg2Z4Oc8GF4ZbcsdAhXfX"
    "T6X5de6d2SONk9okzRxo9BepgfNTyucuKF6FVoKfnXMtvzlbwobsPhseZ8KPuV3ID7JW7A"
    "/YwbMIx1qQQTYpDms9A6Hk940XyYp/8Dn8s2Zg=="
)
