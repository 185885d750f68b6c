"""Write `.env.example` from the settings class (`bot.config.Settings`): every `TRADEBOT_*`
variable with its default and what it is for, so the file cannot drift from the code.

    python scripts/make_env_example.py            # rewrite .env.example
    python scripts/make_env_example.py --check    # exit 1 if .env.example is out of date

`tests/test_first_minutes.py` renders it in memory and compares it with the committed file.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import ENV_PREFIX, Settings  # noqa: E402

TARGET = ROOT / ".env.example"
WIDTH = 100
HEADER = """\
# tradebot settings: copy this file to .env (in the directory you run tradebot from) and
# uncomment what you change. Variables set in the environment win over .env. Each commented line
# shows the default. Generated from bot/config.py by scripts/make_env_example.py: do not edit by
# hand (a test checks the two agree).
"""


def example_value(field: FieldInfo) -> str:
    """The default as it would be written in .env (a generated secret is left empty)."""
    value: Any = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
    if isinstance(value, SecretStr):
        return "" if field.default_factory else value.get_secret_value()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return "{}" if not value else repr(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def render() -> str:
    blocks = [HEADER]
    for name, field in Settings.model_fields.items():
        if not field.description:
            raise SystemExit(f"Settings.{name} has no description: add one in bot/config.py")
        comment = textwrap.wrap(field.description, WIDTH - 2)
        lines = [f"# {line}" for line in comment]
        lines.append(f"# {ENV_PREFIX}{name.upper()}={example_value(field)}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not TARGET.is_file() or TARGET.read_text(encoding="utf-8") != text:
            sys.exit(".env.example is out of date: run python scripts/make_env_example.py")
        return
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)} ({len(Settings.model_fields)} variables)")


if __name__ == "__main__":
    main()
