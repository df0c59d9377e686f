"""load_settings: defaults, every variable, and errors that name the variable."""

from __future__ import annotations

from datetime import time
from email.headerregistry import Address
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dotenv import dotenv_values

from digest.config import Settings, declared, load_settings
from digest.errors import ConfigError
from digest.settings_doc import settings_table, with_table
from tests.support import ROOT, env_for

FULL_ENV = {
    "DIGEST_DATABASE_URL": "postgresql+psycopg://digest@db/digest",
    "DIGEST_PROFILES": "/etc/digest/profiles.toml",
    "DIGEST_INBOX": "/var/lib/digest/inbox",
    "DIGEST_OUTBOX": "/var/lib/digest/outbox",
    "DIGEST_FROM": "Lab Digest <digest@lab.org>",
    "DIGEST_SEND_TIME": "06:45",
    "DIGEST_TIMEZONE": "Europe/Paris",
    "DIGEST_LOOKBACK_DAYS": "3",
    "SMTP_HOST": "mail.lab.org",
    "SMTP_PORT": "2525",
    "SMTP_USERNAME": "digest-bot",
    "SMTP_PASSWORD": "pa ss:word ",
    "SMTP_SECURITY": "ssl",
    "SMTP_TIMEOUT": "12",
}


def test_defaults() -> None:
    settings = load_settings({})

    assert settings == Settings()
    assert settings.database_url == "sqlite:///digest.sqlite3"
    assert settings.profiles == Path("profiles.toml")
    assert settings.inbox == Path("inbox")
    assert settings.outbox == Path("outbox")
    assert settings.sender == "digest@localhost"
    assert settings.sender_address == Address(username="digest", domain="localhost")
    assert settings.send_time == time(7, 0)
    assert settings.timezone == ZoneInfo("UTC")
    assert settings.lookback_days == 7
    assert settings.smtp_host is None
    assert settings.smtp_port == 587
    assert settings.smtp_username is None
    assert settings.smtp_password is None
    assert settings.smtp_security == "starttls"
    assert settings.smtp_timeout == 30.0
    assert settings.transport_name == "file"


def test_blank_values_mean_the_default() -> None:
    blank = {name: "  " for name in FULL_ENV if name != "SMTP_PASSWORD"}
    assert load_settings(blank) == Settings()
    assert load_settings({"SMTP_PASSWORD": ""}).smtp_password is None


def test_every_variable_is_read() -> None:
    settings = load_settings(FULL_ENV)

    assert settings.database_url == "postgresql+psycopg://digest@db/digest"
    assert settings.profiles == Path("/etc/digest/profiles.toml")
    assert settings.inbox == Path("/var/lib/digest/inbox")
    assert settings.outbox == Path("/var/lib/digest/outbox")
    assert settings.sender == "Lab Digest <digest@lab.org>"
    assert settings.sender_address == Address("Lab Digest", "digest", "lab.org")
    assert settings.send_time == time(6, 45)
    assert settings.timezone == ZoneInfo("Europe/Paris")
    assert settings.lookback_days == 3
    assert settings.smtp_host == "mail.lab.org"
    assert settings.smtp_port == 2525
    assert settings.smtp_username == "digest-bot"
    assert settings.smtp_password == "pa ss:word "  # kept exactly, spaces and all
    assert settings.smtp_security == "ssl"
    assert settings.smtp_timeout == 12.0
    assert settings.transport_name == "smtp"


def test_surrounding_whitespace_is_ignored() -> None:
    settings = load_settings(
        {
            "DIGEST_SEND_TIME": " 7:05 ",
            "DIGEST_TIMEZONE": " Asia/Tokyo\n",
            "SMTP_HOST": " mail.lab.org ",
            "SMTP_SECURITY": " None ",
            "DIGEST_LOOKBACK_DAYS": " 14 ",
        }
    )
    assert settings.send_time == time(7, 5)
    assert settings.timezone == ZoneInfo("Asia/Tokyo")
    assert settings.smtp_host == "mail.lab.org"
    assert settings.smtp_security == "none"
    assert settings.smtp_port == 25
    assert settings.lookback_days == 14


def test_process_environment_is_the_default_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_HOST", "relay.example.org")
    monkeypatch.setenv("DIGEST_LOOKBACK_DAYS", "2")
    settings = load_settings()
    assert settings.smtp_host == "relay.example.org"
    assert settings.lookback_days == 2


@pytest.mark.parametrize(
    ("security", "port"),
    [("starttls", 587), ("ssl", 465), ("none", 25), ("SSL", 465), ("StartTLS", 587)],
)
def test_default_port_follows_security(security: str, port: int) -> None:
    settings = load_settings({"SMTP_SECURITY": security})
    assert settings.smtp_security == security.lower()
    assert settings.smtp_port == port


@pytest.mark.parametrize("security", ["starttls", "ssl", "none"])
def test_explicit_port_wins(security: str) -> None:
    assert load_settings({"SMTP_SECURITY": security, "SMTP_PORT": "1025"}).smtp_port == 1025


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, "file"), ({"SMTP_HOST": "   "}, "file"), ({"SMTP_HOST": "localhost"}, "smtp")],
)
def test_transport_name(env: dict[str, str], expected: str) -> None:
    assert load_settings(env).transport_name == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("00:00", time(0, 0)), ("7:30", time(7, 30)), ("23:59", time(23, 59))],
)
def test_send_time_accepted(value: str, expected: time) -> None:
    assert load_settings({"DIGEST_SEND_TIME": value}).send_time == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMTP_SECURITY", "tls"),
        ("SMTP_SECURITY", "ssl/tls"),
        ("DIGEST_SEND_TIME", "25:00"),
        ("DIGEST_SEND_TIME", "7"),
        ("DIGEST_SEND_TIME", "07:60"),
        ("DIGEST_SEND_TIME", "7am"),
        ("DIGEST_SEND_TIME", "07:00:00"),
        ("DIGEST_TIMEZONE", "Mars/Olympus_Mons"),
        ("DIGEST_TIMEZONE", "../../etc/passwd"),
        ("DIGEST_TIMEZONE", "CEST+2"),
        ("SMTP_PORT", "smtp"),
        ("SMTP_PORT", "587.0"),
        ("SMTP_PORT", "0"),
        ("SMTP_TIMEOUT", "soon"),
        ("SMTP_TIMEOUT", "0"),
        ("DIGEST_FROM", "digest.lab.org"),
        ("DIGEST_FROM", "Lab Digest"),
        ("DIGEST_FROM", "digest@lab.org\r\nBcc: everyone@lab.org"),
        ("DIGEST_FROM", "Lab\nDigest <digest@lab.org>"),
        ("DIGEST_FROM", "Lab\rDigest <digest@lab.org>"),
        ("DIGEST_LOOKBACK_DAYS", "0"),
        ("DIGEST_LOOKBACK_DAYS", "-3"),
        ("DIGEST_LOOKBACK_DAYS", "a week"),
    ],
)
def test_errors_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value})
    message = str(caught.value)
    assert message.startswith(f"{name} must ")
    assert message.endswith((f"not {value!r}", f"not {value}"))


def test_error_quotes_the_bad_value() -> None:
    with pytest.raises(ConfigError, match=r"DIGEST_SEND_TIME .* not '25:00'"):
        load_settings({"DIGEST_SEND_TIME": "25:00"})
    with pytest.raises(ConfigError, match=r"DIGEST_LOOKBACK_DAYS must be at least 1, not 0"):
        load_settings({"DIGEST_LOOKBACK_DAYS": "0"})


def test_smtp_port_above_65535_is_rejected() -> None:
    # Accepted today; getaddrinfo then wraps it (70000 -> 4464) and connects to the wrong port.
    with pytest.raises(ConfigError, match="SMTP_PORT"):
        load_settings({"SMTP_HOST": "mail.lab.org", "SMTP_PORT": "70000"})


def test_smtp_connections_and_rate_are_read_with_their_defaults() -> None:
    assert (Settings().smtp_connections, Settings().smtp_rate) == (1, 0)
    settings = load_settings({"DIGEST_SMTP_CONNECTIONS": "4", "DIGEST_SMTP_RATE": "600"})
    assert (settings.smtp_connections, settings.smtp_rate) == (4, 600)
    blank = load_settings({"DIGEST_SMTP_CONNECTIONS": " ", "DIGEST_SMTP_RATE": ""})
    assert (blank.smtp_connections, blank.smtp_rate) == (1, 0)


def test_senders_are_read_and_unset_means_the_default() -> None:
    assert load_settings({}).senders == 0
    assert load_settings({"DIGEST_SENDERS": "2"}).senders == 2


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DIGEST_SMTP_CONNECTIONS", "0", "at least 1"),
        ("DIGEST_SMTP_CONNECTIONS", "33", "at most 32"),
        ("DIGEST_SMTP_CONNECTIONS", "four", "a whole number"),
        ("DIGEST_SMTP_RATE", "-1", "at least 0"),
        ("DIGEST_SMTP_RATE", "1.5", "a whole number"),
        ("DIGEST_SENDERS", "0", "at least 1"),
        ("DIGEST_SENDERS", "65", "at most 64"),
    ],
)
def test_smtp_connections_and_rate_errors_name_the_variable(
    name: str, value: str, says: str
) -> None:
    with pytest.raises(ConfigError, match=rf"^{name} must be {says}"):
        load_settings({name: value})


@pytest.mark.parametrize("secret", [" " * 16, "a" * 40, "abcabcabcabcabcabc", "\t" * 20 + "abc"])
def test_a_secret_without_enough_different_characters_is_refused(secret: str) -> None:
    """Fails before: any 16 characters were taken, 16 spaces as well."""
    with pytest.raises(ConfigError, match="8 of them different") as caught:
        load_settings({"DIGEST_SECRET": secret})
    assert "secrets.token_urlsafe(32)" in str(caught.value)
    assert secret.strip() not in str(caught.value) or not secret.strip()


def test_a_generated_secret_is_accepted() -> None:
    secret = "Zk3_9f-QpL2xV7mN0aB4cD8eF1gH5iJ6"
    assert load_settings({"DIGEST_SECRET": secret}).secret == secret


@pytest.mark.parametrize(
    "url",
    [
        "https://digest.lab.org",
        "https://digest.lab.org/papers",
        "http://127.0.0.1:8000",
        "http://127.3.2.1",
        "http://localhost:8000/digest",
        "http://[::1]:8000",
    ],
)
def test_the_base_url_is_https_or_on_a_loopback_address(url: str) -> None:
    assert load_settings({"DIGEST_BASE_URL": url + "/"}).base_url == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://digest.lab.org", "must be https"),
        ("http://10.0.0.5:8000", "must be https"),
        ("http://localhost.lab.org", "must be https"),
        ("ftp://digest.lab.org", "must be an http(s) URL"),
        ("https://user@digest.lab.org", "must be an http(s) URL"),
        ("https://digest.lab.org?x=1", "must be an http(s) URL"),
        ("https://digest.lab.org:99999", "malformed host or port"),
    ],
)
def test_a_base_url_that_is_not_https_is_refused(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match="DIGEST_BASE_URL") as error:
        load_settings({"DIGEST_BASE_URL": url})
    assert problem in str(error.value)


CURRENT = "current-secret-0123"
PREVIOUS = "previous-secret-4567"


def test_the_previous_secret_checks_only_beside_a_current_one() -> None:
    rotated = load_settings({"DIGEST_SECRET": CURRENT, "DIGEST_SECRET_PREVIOUS": PREVIOUS})
    assert rotated.checking_secrets == (CURRENT, PREVIOUS)
    assert PREVIOUS not in repr(rotated)
    with pytest.raises(ConfigError, match="DIGEST_SECRET_PREVIOUS is set without DIGEST_SECRET"):
        load_settings({"DIGEST_SECRET_PREVIOUS": PREVIOUS})
    with pytest.raises(ConfigError, match="DIGEST_SECRET_PREVIOUS must be at least 16"):
        load_settings({"DIGEST_SECRET": CURRENT, "DIGEST_SECRET_PREVIOUS": "short"})
    with pytest.raises(ConfigError, match="DIGEST_SECRET is not set"):
        _ = load_settings({}).checking_secrets


def test_smtp_timeout_takes_decimals_like_the_other_seconds() -> None:
    assert load_settings({"SMTP_TIMEOUT": "2.5"}).smtp_timeout == 2.5
    with pytest.raises(ConfigError, match="SMTP_TIMEOUT must be more than zero seconds"):
        load_settings({"SMTP_TIMEOUT": "0.0"})


def test_the_settings_page_holds_the_table_of_the_declarations() -> None:
    page = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert with_table(page) == page, "run: python -m digest.settings_doc docs/settings.md"
    for _, declaration in declared():
        assert f"| `{declaration.env}` |" in settings_table()


def test_env_example_lists_every_declared_setting_in_order_with_a_comment() -> None:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    listed = [n for n, line in enumerate(lines) if line[:1].isupper() and "=" in line]
    assert [lines[n].partition("=")[0] for n in listed] == [d.env for _, d in declared()]
    for n in listed:
        above = n - 1
        while lines[above] and lines[above][:1].isupper():  # a group under one comment
            above -= 1
        assert lines[above].startswith("#"), f"{lines[n]} has no comment above it"


def test_env_example_runs_as_it_is() -> None:
    values = dotenv_values(ROOT / ".env.example")
    settings = load_settings({name: value or "" for name, value in values.items()})
    assert settings.transport_name == "file"
    assert settings.profiles == Path("examples/profiles.toml")


def test_the_tests_environment_reads_back_as_the_same_settings() -> None:
    settings = Settings(
        database_url="sqlite:///lab.sqlite3",
        sender="Lab <digest@lab.org>",
        timezone=ZoneInfo("Europe/Paris"),
        smtp_host="127.0.0.1",
        smtp_port=2525,
        smtp_security="none",
        smtp_timeout=0.5,
        secret="test-secret-not-for-production",
        base_url="http://127.0.0.1:8000",
        max_page_bytes=3 * 1024 * 1024,
        retry_backoff=0.01,
        senders=2,
    )
    assert load_settings(env_for(settings)) == settings
    assert load_settings(env_for(Settings())) == Settings()


def test_passwords_and_secrets_stay_out_of_the_settings_repr() -> None:
    settings = load_settings(
        {
            "SMTP_PASSWORD": "pa ss:word ",
            "DIGEST_SECRET": CURRENT,
            "DIGEST_SECRET_PREVIOUS": PREVIOUS,
        }
    )
    shown = repr(settings)
    assert "pa ss:word" not in shown and CURRENT not in shown and PREVIOUS not in shown
    assert "smtp_timeout=30.0" in shown
