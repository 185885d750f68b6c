"""A bad setting stops start-up with one line naming the variable."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def no_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TRADEBOT_PORT", "eighty"),
        ("TRADEBOT_PORT", "70000"),
        ("TRADEBOT_TELEGRAM_MODE", "carrier-pigeon"),
        ("TRADEBOT_TELEGRAM_ADMINS", "123,abc"),
        ("TRADEBOT_BROKER", "mt4"),
        ("TRADEBOT_PAPER_FEE_BPS", "-1"),
        ("TRADEBOT_DATABASE_URL", "mysql://x"),
        ("TRADEBOT_PUBLIC_URL", "bot.example.com"),
        ("TRADEBOT_WEBHOOK_IP_ALLOWLIST", "10.0.0.0/8,not-an-ip"),
        ("TRADEBOT_CCXT_OPTIONS", "{not json"),
        ("TRADEBOT_LOG_FORMAT", "xml"),
        ("TRADEBOT_LOG_LEVEL", "loud"),
        ("TRADEBOT_HOST", ""),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert message.startswith(f"{variable}:")
    assert "\n" not in message


def test_cli_prints_one_line_and_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEBOT_PORT", "eighty")
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("config error: TRADEBOT_PORT:")


def test_secret_values_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEBOT_API_TOKEN", "s3cret-value")
    monkeypatch.setenv("TRADEBOT_PORT", "bad")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "s3cret-value" not in str(error.value)


def test_defaults_are_the_embedded_product(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "TRADEBOT_DATABASE_URL",
        "TRADEBOT_BROKER",
        "TRADEBOT_PORT",
        "TRADEBOT_TELEGRAM_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite://data/tradebot.sqlite3"
    assert settings.broker == "paper"
    assert settings.port == 8080
    assert not settings.telegram_enabled
    assert settings.telegram_admins == []


def test_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEBOT_TELEGRAM_ADMINS", "111, 222")
    monkeypatch.setenv("TRADEBOT_WEBHOOK_IP_ALLOWLIST", "tradingview,10.0.0.0/8")
    monkeypatch.setenv("TRADEBOT_CCXT_OPTIONS", '{"defaultType": "spot"}')
    settings = load_settings()
    assert settings.telegram_admins == [111, 222]
    assert settings.webhook_ip_allowlist == ["tradingview", "10.0.0.0/8"]
    assert settings.ccxt_options == {"defaultType": "spot"}


def test_the_telegram_webhook_secret_is_one_per_deployment_without_being_set() -> None:
    """Unset, it is derived from the token: every process of a deployment expects the secret
    Telegram was given by whichever process registered the webhook (a random one per process
    would refuse the updates sent to the others)."""
    token = "123456:ABCdef"
    one, two = load_settings(telegram_token=token), load_settings(telegram_token=token)
    assert one.webhook_secret() == two.webhook_secret()
    assert len(one.webhook_secret()) == 64 and token not in one.webhook_secret()
    assert load_settings(telegram_token="654321:XYZ").webhook_secret() != one.webhook_secret()
    given = load_settings(telegram_token=token, telegram_webhook_secret="chosen-secret_1")
    assert given.webhook_secret() == "chosen-secret_1"
