"""The layering rules of the codebase, checked on the source: the trading core imports neither
the bot framework nor the web server, and only db/ (and the app's start-up in bot/) touches the
ORM."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
                names.add(module if module.startswith("db") else module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_trading_imports_neither_aiogram_nor_aiohttp() -> None:
    offenders = {f: n & {"aiogram", "aiohttp"} for f, n in _imports("trading").items()}
    assert {f: n for f, n in offenders.items() if n} == {}


def test_handlers_reach_storage_only_through_db_services() -> None:
    offenders = {f: n & {"tortoise", "db.models"} for f, n in _imports("handlers").items()}
    assert {f: n for f, n in offenders.items() if n} == {}
