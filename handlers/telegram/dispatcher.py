"""The aiogram Dispatcher: services by keyword (`Dispatcher(**services)`), middlewares, routers.

Handlers declare what they need (`control: ControlService`, `actor: Actor`) and get it: the
services from here, the actor from the `Authenticate` middleware.
"""

from __future__ import annotations

from typing import Any

from aiogram import Dispatcher
from aiogram.fsm.storage.base import BaseStorage

from handlers.telegram import dialogue_store, routers
from handlers.telegram.middlewares import Authenticate, Authorize, InFlight, UpdateDedup
from trading.access import AccessService


def build_dispatcher(
    *, storage: BaseStorage, access: AccessService, inflight: InFlight, **services: Any
) -> Dispatcher:
    dispatcher = Dispatcher(storage=storage, access=access, **services)
    dispatcher.update.outer_middleware(inflight)
    dispatcher.update.outer_middleware(UpdateDedup(access))
    for observer in (dispatcher.message, dispatcher.callback_query):
        observer.outer_middleware(Authenticate(access))
        observer.middleware(Authorize(access))
    # First: while the dialogue store does not answer, a dialogue's answer is declined politely.
    dispatcher.include_router(dialogue_store.router())
    dispatcher.include_routers(*routers())
    return dispatcher
