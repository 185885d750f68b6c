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
    "heartbeat_minutes" INT,
    "break_even_after_tp1" BOOL NOT NULL,
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
    "take_profits" JSONB NOT NULL,
    "trail_peak" DECIMAL(38,12),
    "trail_stop" DECIMAL(38,12),
    "closing_token" VARCHAR(64),
    "closing_at" TIMESTAMPTZ,
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
    "eJztXWlz2zYa/isYfWk64834iJ1su7MztuO2bh07kyjbTo9hIBKSMKIIFgBtq9389wV4ib"
    "cImaRJLj7FIfGA1AMQeG/8PVkTC9ns5blnYX5DFpNvwN8TB66R+CN37wBMoOtu78gLHM5s"
    "vzGUrQw7bDZjnEKTixtzaDMkLlmImRS7HBNHXHU825YXiSkaYmexveQ5+E8PGZwsEF8iKm"
    "789oe4jB0LPSIW/dddGXOMbCv1vtiSz/avG3zj+teuHf6d31A+bWaYxPbWzraxu+FL4sSt"
    "scPl1QVyEIUcye459eTry7cLf2r0i4I33TYJXjGBsdAcejZP/NyZsb02MYzbu6nx8WpqGB"
    "MFgkziSHLFqzL/1y/kK/zj+OjV61dvTs5evRFN/NeMr7z+Ejx6S0wA9Om5nU6++Pchh0EL"
    "n+MtqWIUCc3zermEtJjYGJDhVrx0ltuIySpyowtbdrczqgt61/DRsJGz4Evx37NXFVz+5/"
    "zD5Q/nH16cvfpaPpCIDyD4NG7DO8f+LUl3il75Rmr8hghNcA2COaRiJVEheIvojuDJpBN6"
    "j47f1OBXtCol2L+XZph43CTiTwWKE5ARTuKjszokn5VzfJal2EIc4mDDTVP848e722KKE5"
    "AMxRY2OfgvsDHLbXaNTed/zT3HX6fAzMM2xw57KR/777ameQXhkiLZ85qxP+0k0S/enf+S"
    "HYPLm7sLnzLC+IL6vfgdXGQGxKRIUmbAgpXlrbjD8RoVj0samR2aEPoy+qOZAepUHhG/z7"
    "pz7E343IqRmV6/u/o4PX/3PjU8b8+nV/LOsX91k7n6IvvZxJ2An6+nPwD5X/Dr3e1VdhTj"
    "dtNfJ/KdoMeJ4ZAHA1oJiqKrEY1fpLA5XyUkI3lhBs3VA6SWkbtDjklZ2/yt9fE6ewU6cO"
    "EPmSRXvmYog196lCKHvycMhwOSE9OzTSqldTNobLhha1ZLap+cO4C4yAER7CV4i2wkpiZ4"
    "WIrLcxvybwHmTCwucwQwA1xeJg4Cn0XPFjKWYtEhdPMZUPLwcpKZUC10X6BN/DaZEf/bY5"
    "v1jNiTP7R68YzqRTgICrLDFjFC0eHkuIbocHJcKjrIW+md6k+PcCXZLAaMkN7mJTOGLSV2"
    "o/YjJPe0BrenpdSe5iYu3xTIVsjEa2iXzNwAkZWpAsjLEDpAmit4fXt1ef3u/ObFyZuDo2"
    "BVEPIS5ijJ+avDnNHhfmG4FJsFM7eS4BRO07yLZiFgUYwKtLZSqSGB2C06NEXpUa9Fh4Sd"
    "QYiGQnFSXxfSQD1vd87bR8z3oDkJex6SDwfF8D20PdUVOA3ULFeyTBG08V/iy3edAg2jku"
    "csVDNdyfQcFW1zlQxHEM1sJbNMdeayZuZraGMY7R7HXUVeA4DmdRevom8lc04M2Esj7hmd"
    "bRtzOFwhoYGROeZKzqAsrh8eIfm80XiE/HlsuAiuVBeWFFAvMHUWGINxoryAp4Ca5x08mz"
    "Zh4oEGJyukFJ+SA45vYW8+SiUibQ9/cgrZgD+5Z8wPxH8ccZJzIBdYsNQHOQXsJmZAD/Ke"
    "g+y51p6hIWnkCId5oLEhBcMevv121O8RZYWBnKW2/gSiO1t/W3aPpm39M8INpXiLLaA7Mn"
    "sedpELXUrRm+f2O0IRXjg/oY1P8bV4IegU+vrCiKMphZb4ERdkiAx/iWZQdHUr+lD4EIf/"
    "JCaWIMDyw5Hk5Q9iwfhwfSl4fp6AMDk61Fsj/71zsWCJuwdVYWA4blc3AAzIQCsJB0EcDo"
    "COJcOwgA0ZB75zGDAkg7UIBZiDF3NK1gDaiHIGxCXZFD2aS+gs0NcFEWDN968TSnTEV5/o"
    "bdlEOINMKSApaj/CgKTmo710MF2r9Mo1fq/ApDRQ2/Z22Pa2dO2hpebA2ubUH700b45IDB"
    "cjHi36tMqXr0Lw+Oy5zaxkPUkVuaOWL+XmlILgRqU+QGSTmqrAzxRzLgTxGRKiOPIF7xkl"
    "K0RlYoYJbRtZ4IVQIbnHgIscqSl+fQBMsnaDlA4454jmNYDmutWCf78Ef9PGMuXIn2OFxp"
    "0qn1IOOjpVoHmn0vNrWr1a5ZvXtXTyR0xunclbPndzUzf40n2CFPhNozrM3l9DugpKBrTP"
    "dJ0M/vL8/Vz2vk6zaU3N2keT1UpsXXYDGVBp+Y0RHS4NoYzazdpwVGeLOyrf4o5yW9wcS4"
    "l7j2yQNFBHeVfOZZlYJwnbOysvDdZrxw6+50iV5BCh5/EuXo2gtIRZsF6Ur8xZnDYx7TaW"
    "B1YRJVdPjBihAtKCJ82nay97RQF0fFO6eYOFeE4YslCX6C1ihFO6+TWDIsjUqg1uER3KzA"
    "wvnGA3HeK68YBmS0JWshaqWgxbHrhXLNvuRWN4VuVE6jSlRfVIp+ixrKZCBBjDClzlmbz6"
    "ZZpySuaymmLH5M3d7fdR82yq05Dr3Olg5m/2LnSnQ9jHPOp1Qth1zPXTdyodc/3MMdc1qi"
    "9dhMDvfvqAbFhSTDukO6qmeSU62wxWXMgR/qXNAJQ0ZwWBKDlSywNSokqgRmI0d4em3DkI"
    "SIsoEB3bGFmAEwDjqqLfAOgA2d/mQP4lFkgZOC6vPWKeD0h5amc6DKVfYSjxlFJiN4Nqa8"
    "MbHtE63KQzw8JK/C4VeqP2IyS34SAIHcjTViCPDi8ZaXjJ6OkdmI94SNQuKGFsj6qMKZx2"
    "xVdyrF09HUhk2jy+z4TuuWE0bw/XltFmNcXykIpSRitCKZryig6OUm1s7sTYnJu5DTAb5+"
    "INa9bW5TT5tfaqbMp7qf9cwML8yPjeQaVF2s+GncG6aZLSfCxaAzIHMKxp8hWLC5lImzaA"
    "XBqMZSgTvYeCdb9AKtgWNgla++VNTOhYNmLFVup2HlN4hNbWchf15w+1i8RMl/KKPlTr/7"
    "vEynPvri3L/clJrxKqGGFGSHLzwYrb1STH8u5qmTFQq1a9Vq3kWClagSKItrPtsgEt8WKp"
    "SG4E0eTuLKIjZrQatyFCU1un9riq8T3GaHp30XsvSVPldwvShvfdk7dAq7kgxEbQqZi9Rd"
    "rNjJDWKI2vdEvrxd3dTUo8ubjORqJ/endxJaTFDOcFISfKFa2eWMZqPyeHr1534+MYVSmr"
    "j1wOxWJzSZw5XkwKbDaZFgdVlhsWtpXmK9G4pv3mPaTikUJ1Y4FtZUb4VwxEfX3rF6hy0A"
    "NiXB467pel9RvJclXYL1Nrory5prFedXRhz0wv4RAqrUkJzAgtA82bX1z59SgdgLVF9OPo"
    "K/nY0Rx9pb3g5V/CMNOF6iSJaae49uC2y/ATPbiX5x8vz99ePZercSpeZCF2nU9+SmSR8J"
    "ppUSm88rCtEWRY1hReoyeAAAWwxQC05Zq0AUvfx2cdACbzWSgSj8T3SPwbNxZtTVlSVWxc"
    "xCmSYpvv/gnibNBt4ZJ0gRelq1IK1szC1AcB95/Hxycnr48PT87enL56/fr0zWG8PuVvVS"
    "1UF9ffy7UqtcvsFoMpMpEY7n1kggxUCwV9Fwp6YiyQWx36QcjxpDjrMHW/eq2VLY1lommN"
    "c3GiBDGhxtt4joK4CumqkvmCcxsWZBbWBWkdv186fo8yCEfAsw5b6cxuoo+vaTVgRWcRxu"
    "Se1uD2tJTaU51F2Jm70q9dsFfd2QxSU72T6ke83/FWaaAmemdmrHJm4bPmFA6J2jkqKqmz"
    "Ky220POiyS1aiwtLFpUqFQlEd0b1o4HoE1KR3ssElQKO0AA1EINTrQDiIHJqH99jEtjNIH"
    "epnI9pjIeRyz5gw4D25WpfbifLUZulH9t2LoTcl7gWtiNT7VgQ7QzxI+s5cMvp1T6BfvkE"
    "/H8VNqiovT7GMrM5lR1jqRTul4D0I95PPm808X7DiXEdeHkhhv9ChmrVxxSoQ6pDi/swHT"
    "eCsntoe6qG2TRQG7h2GbgsTJEZVdyuO6FToA4ntE26Orax4Wqmsm91U2IGpc2JufAEtdCE"
    "/cMSelb0p+1djrsqvAatNa81eBWPUpqyMUCz29MSML3muHm5zO8eLgyGxIMt1c0sg+xuQz"
    "trK1e96R0Nui4linM4iekyhdrjZJDCmAs99XIAW5AuB6BQDiA6QHGFlGwTGdjoTHJHx3Xm"
    "tGhVcS58wbxmzF1SWFSopZzqNGqEe2AbVEPbJg8GdpVMoCmQNoI2bgSlmK1UxiNq34+hGF"
    "X++RJBymcIcmONHY8rWT0KsbrAdH5vnVEEVwa6R44B50KNMbh7pCjVlHWhZRwFGcdcwuJY"
    "jaok1wRoRHO7kxzXhD2FuNhUpj6J0tzvy70uMVI+IOPKJtbnUI951AvCPXPnUAdRX/uMeh"
    "rZwKj3bO0d7iAH37ZCpYB8tvUTT3K+9ChFDo/OHh7gJ18WQpnOeZAnbzyRqrqHkwySoGc5"
    "FnyQTEUhW8l6mftT9jFXqXOMnPmlQ57IVLZQyRh5ikzuNnnqvPo56OmG1JlT/dzP81S1Gc"
    "r+iaHC44/86wdV4eseQzVPPdJx6/0y45XHrcd15ZTtGmngeMrZdGzZkB+VavJAEjM+H1rz"
    "GQSU2Er8Ru1HmDvYcHSDQzieFzjby/1gW4T2hDXuCeOEuzLmiaIC20lF4F8appeU3UuKNk"
    "iXUz9M02TPy1sm9JwC4T2tBZWL8Fm9a3dly6t7RDcgxAGKxBRj/ED8MZchaoA4SJ5IYdqe"
    "JYv9PmC+BMFKwmTRX7/Cb77yZROd/u787nwW9z1XBm59lvWEGeICa29kSWF5ggY0TeTKEs"
    "PhE/yzNpzwtFMc1SYOvhvgfy1gDVfi2QL8uyN6trEpSxWbS2SuAORkjU3RKSVMHq1KTMRY"
    "+SGpWq15RrVGzAhjGfJSdxdMYjqMbG1L9mg7OJuiNZGFs5WyN1Kg0ZHcgphBHI4cHnCkwH"
    "MWNzqqWwm0nBGrQJeZosfSKihW1wnNz6CpTK9+mVZrKrGMdnN3+33UPKu+ZGNawyPR6sez"
    "hoAnqY0901K61g99EgtNfRUJHwnM+DTDVtaRWCpV4TkFaoToPqUgnB3Wkj8OKwSQXDZ55/"
    "XCez2Tm09xhMqp+vBpefq95rd5CXrJpdmNQ+4pRaynUd2lNQ4lq7GM0ariNCVstinJRefc"
    "DFf/Ky7KWC4uP7EoY89Wh64lZj+yS61KYxIyotjzxlaKoZ1SpevH7lc/do4dzJZ7jXMGqm"
    "OK+zzOXZex7dlQjq+Kbc8ILovXO6hXxFY8Htx+url5riK254hiczkpcB+Gdw6qXIdw20aH"
    "/w3pkz6o8JPdI8oUdfwEZITxUcendY6uEq1KNSX/Xq7OjpIVxe3YPdadDeWwlhnwsMIMeJ"
    "gzA4a+LhVnQgLSfRTawP0JzxoP8+V/MTqL0A=="
)
