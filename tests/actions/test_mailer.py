from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxray.actions import mailer
from cxray.actions.mailer import MailSettings, MailSettingsError, read_settings
from cxray.i18n import text_of
from tests.smtp_server import free_port, smtp_server  # noqa: F401  (the fixture)

GOOD = {"host": "smtp.example.com", "from_address": "service@example.com"}


def settings_of(table: dict, env: dict | None = None) -> MailSettings:
    return read_settings({"mail": table}, env=env or {})


def test_defaults_and_values_are_read():
    settings = settings_of(
        {**GOOD, "starttls": True, "port": 587, "from_name": "Shop", "max_attempts": 3}
    )
    assert settings.port == 587 and settings.starttls and settings.max_attempts == 3
    assert settings.batch_size == 100 and settings.rate_per_minute is None
    assert settings.configured
    assert settings_of({}).port == 25 and not settings_of({}).configured
    assert read_settings({}, env={}) == MailSettings()


def test_an_unknown_key_is_refused_by_name_in_both_languages():
    with pytest.raises(MailSettingsError) as caught:
        settings_of({**GOOD, "hots": "x"})
    assert "[mail] unknown key 'hots'" in str(caught.value)
    assert "[mail] onbekende sleutel 'hots'" in text_of(caught.value, "nl")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("port", "25"),
        ("port", 0),
        ("port", 70000),
        ("port", True),
        ("starttls", "yes"),
        ("max_attempts", 0),
        ("max_attempts", 2.5),
        ("batch_size", -1),
        ("rate_per_minute", 0),
        ("host", 25),
        ("from_address", "not an address"),
        ("reply_to", "x@"),
        ("timeout_seconds", 0),
        ("host", "smtp.example.com\nBcc: x"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_key(key, value):
    with pytest.raises(MailSettingsError) as caught:
        settings_of({**GOOD, key: value})
    assert f"'{key}'" in str(caught.value)
    assert f"'{key}'" in text_of(caught.value, "nl")
    assert text_of(caught.value, "nl") != str(caught.value)


def test_the_password_never_comes_from_the_file():
    with pytest.raises(MailSettingsError) as caught:
        settings_of({**GOOD, "password": "secret"})
    assert "CXRAY_SMTP_PASSWORD" in str(caught.value)
    settings = settings_of({**GOOD, "username": "me"}, {"CXRAY_SMTP_PASSWORD": "s3cret"})
    assert settings.password == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.to_dict()["password"] is True


def test_the_environment_overrides_the_file():
    env = {
        "CXRAY_SMTP_HOST": "mail.internal",
        "CXRAY_SMTP_PORT": "2525",
        "CXRAY_SMTP_USERNAME": "robot",
        "CXRAY_SMTP_FROM": "robot@example.org",
    }
    settings = settings_of({**GOOD, "port": 25}, env)
    assert (settings.host, settings.port, settings.username, settings.from_address) == (
        "mail.internal",
        2525,
        "robot",
        "robot@example.org",
    )
    with pytest.raises(MailSettingsError, match="CXRAY_SMTP_PORT"):
        settings_of(GOOD, {"CXRAY_SMTP_PORT": "smtp"})


def test_starttls_does_not_go_with_implicit_tls():
    with pytest.raises(MailSettingsError, match="'starttls'"):
        settings_of({**GOOD, "port": 465, "starttls": True})
    assert settings_of({**GOOD, "port": 465}).implicit_tls


def test_sending_needs_a_host_a_sender_and_a_password_for_a_login():
    with pytest.raises(MailSettingsError, match="host"):
        settings_of({"from_address": "a@example.com"}).require()
    with pytest.raises(MailSettingsError, match="from_address"):
        settings_of({"host": "x"}).require()
    with pytest.raises(MailSettingsError, match="CXRAY_SMTP_PASSWORD"):
        settings_of({**GOOD, "username": "me"}).require()


KEY_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)


@given(KEY_NAMES, st.integers() | st.text(max_size=5) | st.booleans())
def test_any_key_not_known_is_refused_and_named(key, value):
    if key in mailer.KEYS or key == "password":
        return
    with pytest.raises(MailSettingsError) as caught:
        settings_of({**GOOD, key: value})
    assert f"'{key}'" in str(caught.value)


@given(
    st.integers(min_value=1, max_value=65535).filter(lambda p: p != 465),
    st.integers(min_value=1, max_value=100),
    st.integers(min_value=1, max_value=100_000),
    st.none() | st.integers(min_value=1, max_value=100_000),
    st.booleans(),
)
def test_every_valid_number_is_kept(port, attempts, batch, rate, starttls):
    table = {**GOOD, "port": port, "max_attempts": attempts, "batch_size": batch}
    table["starttls"] = starttls
    if rate is not None:
        table["rate_per_minute"] = rate
    settings = settings_of(table)
    assert (settings.port, settings.max_attempts, settings.batch_size) == (port, attempts, batch)
    assert settings.rate_per_minute == rate and settings.starttls is starttls


@given(st.integers() | st.floats(allow_nan=True) | st.text(max_size=4) | st.booleans())
def test_a_port_that_is_no_port_is_refused(value):
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return
    with pytest.raises(MailSettingsError, match="'port'"):
        settings_of({**GOOD, "port": value})


def test_a_message_carries_its_headers_and_both_parts():
    settings = settings_of({**GOOD, "from_name": "Shop Ltd", "reply_to": "help@example.com"})
    message = mailer.build_message(
        message_id="abc123",
        recipient="ann@example.com",
        subject="Hoe was uw levering? ☺",
        text="Dag Ann,\n.\nGeef een cijfer.\n",
        html="<p>Dag Ann</p>",
        headers={"List-Unsubscribe": "<https://shop.example/u/1>"},
        settings=settings,
        date=dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC),
    )
    data = mailer.wire_bytes(message)
    assert b"\r\n..\r\n" in data  # a line of one dot is doubled on the wire
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    read = email.message_from_bytes(data.replace(b"\r\n..", b"\r\n."), policy=email.policy.default)
    assert read["Message-ID"] == "<abc123@example.com>"
    assert read["From"] == "Shop Ltd <service@example.com>"
    assert read["Reply-To"] == "help@example.com"
    assert read["Subject"] == "Hoe was uw levering? ☺"
    assert read["List-Unsubscribe"] == "<https://shop.example/u/1>"
    assert read["Date"] == "Sat, 01 Mar 2025 12:00:00 +0000"
    plain = read.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert plain == "Dag Ann,\n.\nGeef een cijfer.\n"
    assert read.get_body(("html",)).get_content().strip() == "<p>Dag Ann</p>"


def test_check_says_in_one_line_that_sending_works(smtp_server):  # noqa: F811
    settings = settings_of({**GOOD, "host": "127.0.0.1", "port": smtp_server.port})
    result = mailer.check(settings)
    assert result.ok, result.message
    assert "sending works" in result.message and "\n" not in result.message
    assert "versturen werkt" in result.message.nl
    assert smtp_server.count() == 0  # nothing was sent


def test_check_says_why_sending_does_not_work():
    port = free_port()  # nobody listens there
    result = mailer.check(settings_of({**GOOD, "host": "127.0.0.1", "port": port}))
    assert not result.ok
    assert f"127.0.0.1:{port}" in result.message and "connection refused" in result.message
    assert "kan de mailserver" in result.message.nl
    assert not mailer.check(settings_of({"host": "127.0.0.1"})).ok  # no sender


def test_a_refused_recipient_and_a_temporary_failure_are_told_apart(smtp_server):  # noqa: F811
    settings = settings_of({**GOOD, "host": "127.0.0.1", "port": smtp_server.port})
    smtp_server.refuse("gone@example.com")
    smtp_server.fail_temporarily("busy@example.com", times=1, at="data")
    transport = mailer.SmtpTransport(settings)
    handed: list[str] = []
    data = b"Subject: x\r\n\r\nhello\r\n"
    try:
        with pytest.raises(mailer.SendError) as caught:
            transport.deliver("service@example.com", "gone@example.com", data, lambda: None)
        assert caught.value.kind == "recipient" and caught.value.code == 550
        with pytest.raises(mailer.SendError) as caught:
            transport.deliver(
                "service@example.com", "busy@example.com", data, lambda: handed.append("x")
            )
        assert caught.value.kind == "temporary" and caught.value.code == 451
        assert handed == ["x"]  # refused after the end of the data
        # the same connection goes on with the next mail
        transport.deliver("service@example.com", "busy@example.com", data, lambda: None)
    finally:
        transport.close()
    assert smtp_server.count() == 1


def test_nothing_is_delivered_when_handing_over_fails(smtp_server):  # noqa: F811
    settings = settings_of({**GOOD, "host": "127.0.0.1", "port": smtp_server.port})
    transport = mailer.SmtpTransport(settings)

    def cannot_store() -> None:
        raise RuntimeError("the warehouse went away")

    with pytest.raises(RuntimeError):
        transport.deliver("service@example.com", "ann@example.com", b"x\r\n", cannot_store)
    assert not transport.is_open
    transport.deliver("service@example.com", "ann@example.com", b"y\r\n", lambda: None)
    transport.close()
    assert smtp_server.wait_for(1)
    assert [item.data for item in smtp_server.received] == [b"y\r\n"]
