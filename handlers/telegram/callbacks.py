"""Every inline button's data, as aiogram CallbackData factories (packed to at most 64 bytes).

Buttons carry ids, never names or secrets; a press on a button whose object is gone (position
closed, bot deleted, approval expired) gets a clear answer from the service, and data that does
not unpack (forged, or from an older version) reaches the fallback handler.
"""

from __future__ import annotations

from typing import Literal

from aiogram.filters.callback_data import CallbackData


class PositionCb(CallbackData, prefix="pos"):
    action: Literal["close", "yes", "no"]
    id: int


class CloseAllCb(CallbackData, prefix="all"):
    action: Literal["yes", "no"]


class BotCb(CallbackData, prefix="bot"):
    action: Literal[
        "open", "show", "pause", "resume", "url", "tpl", "edit", "del", "del_yes", "rot", "rot_yes",
        "here", "unhere",
    ]  # fmt: skip
    id: int


class BotEditCb(CallbackData, prefix="bed"):
    id: int
    field: str


class NewBotCb(CallbackData, prefix="nb"):
    field: Literal["strategy", "direction", "max_entries", "stops"]
    value: str


class ApprovalCb(CallbackData, prefix="apr"):
    action: Literal["ok", "no", "size"]
    log: int


class SyncCb(CallbackData, prefix="sync"):
    bot: int
    symbol: str
    target: str  # signed decimal


class NotifyCb(CallbackData, prefix="ntf"):
    kind: str


class RiskCb(CallbackData, prefix="risk"):
    """A rule's button under /risk: ask an owner for its new value (`bot` 0: the account)."""

    key: str
    bot: int
