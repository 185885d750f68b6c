"""Every store of `trading.ports.Stores`, on Tortoise: what the composition root injects."""

from __future__ import annotations

from db.alert_log import SqlAlertLogStore
from db.audit import SqlAuditStore
from db.bots import SqlBotStore
from db.dashboard import SqlDashboardStore
from db.health import STORAGE_ERRORS, SqlHealth
from db.orders import SqlOrderStore
from db.paper_ledger import SqlPaperLedger
from db.positions import SqlPositionStore
from db.prices import SqlPriceStore
from db.reports import SqlReportStore
from db.risk import SqlRiskStore
from db.series import SqlSeriesStore
from db.users import SqlUserStore
from trading.ports import Stores


def sql_stores() -> Stores:
    """The stores (cheap objects: the connection is Tortoise's, opened by whoever runs the app;
    the paper ledger and the risk store keep caches and locks of their own, so build them once
    per process)."""
    return Stores(
        bots=SqlBotStore(),
        positions=SqlPositionStore(),
        orders=SqlOrderStore(),
        alerts=SqlAlertLogStore(),
        audit=SqlAuditStore(),
        prices=SqlPriceStore(),
        users=SqlUserStore(),
        ledger=SqlPaperLedger(),
        series=SqlSeriesStore(),
        reports=SqlReportStore(),
        health=SqlHealth(),
        risk=SqlRiskStore(),
        dashboard=SqlDashboardStore(),
        unavailable=STORAGE_ERRORS,
    )
