"""SMTP: the ``[mail]`` settings, one mail as the server gets it, and one connection that sends.

Settings come from ``[mail]`` in ``cxray.toml`` (kept raw in ``Journey.settings["mail"]``), with
the environment on top: ``CXRAY_SMTP_HOST``, ``CXRAY_SMTP_PORT``, ``CXRAY_SMTP_USERNAME`` and
``CXRAY_SMTP_FROM`` replace what the file says, and the password is read from
``CXRAY_SMTP_PASSWORD`` only (a journey file is shared and versioned; a password is neither).

:class:`SmtpTransport` speaks SMTP with :mod:`smtplib` a step at a time so that the sender can
store "handed over" in the split second before the server gets the end of the data (the
``.`` line): see :func:`SmtpTransport.deliver`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.policy
import email.utils
import os
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from cxray.i18n import Message

SOURCE = "cxray.toml"
KEYS = {
    "host",
    "port",
    "starttls",
    "username",
    "from_address",
    "from_name",
    "reply_to",
    "max_attempts",
    "batch_size",
    "rate_per_minute",
    "timeout_seconds",
}
ENVIRONMENT = {
    "CXRAY_SMTP_HOST": "host",
    "CXRAY_SMTP_PORT": "port",
    "CXRAY_SMTP_USERNAME": "username",
    "CXRAY_SMTP_FROM": "from_address",
}
PASSWORD_VARIABLE = "CXRAY_SMTP_PASSWORD"
IMPLICIT_TLS_PORT = 465
_ADDRESS = re.compile(r"^[^@\s<>,;\"']+@[^@\s<>,;\"']+\.[^@\s<>,;\"'.]+$")


class MailSettingsError(ValueError):
    """``[mail]`` (or the environment) says something that cannot be used; names the key."""


class ConnectError(RuntimeError):
    """The server cannot be reached or refuses this client (no mail was handed to it)."""


class SendError(RuntimeError):
    """One mail was not accepted. ``kind`` says what to do with it:

    ``recipient`` the address is refused for good (5xx on RCPT): a bounce;
    ``message`` the mail itself is refused for good (5xx on DATA): failed;
    ``temporary`` try again later (4xx);
    ``server`` the connection or the server is unusable (disconnect, timeout, 421, the sender
    address refused): try the mail again later and reconnect for the next one;
    ``unheard`` the server had the whole mail but its answer was not heard (the connection
    broke after the end of the data): it counts as sent, as after a crash at that moment.
    """

    def __init__(self, kind: str, code: int | None, text: str):
        super().__init__(f"{code} {text}" if code else text)
        self.kind = kind
        self.code = code
        self.text = text


@dataclass(frozen=True)
class MailSettings:
    host: str | None = None
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    from_address: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    max_attempts: int = 5
    batch_size: int = 100
    rate_per_minute: int | None = None
    timeout_seconds: float = 30.0

    @property
    def configured(self) -> bool:
        """A host and a sender address: enough to try sending."""
        return bool(self.host and self.from_address)

    @property
    def implicit_tls(self) -> bool:
        return self.port == IMPLICIT_TLS_PORT

    def require(self) -> None:
        """Refuse, naming the key, when there is not enough to send."""
        if not self.host:
            raise MailSettingsError(
                Message(
                    f"{SOURCE}: [mail] no SMTP server: set host (or CXRAY_SMTP_HOST)",
                    f"{SOURCE}: [mail] geen SMTP-server: geef host op (of CXRAY_SMTP_HOST)",
                )
            )
        if not self.from_address:
            raise MailSettingsError(
                Message(
                    f"{SOURCE}: [mail] no sender: set from_address (or CXRAY_SMTP_FROM)",
                    f"{SOURCE}: [mail] geen afzender: geef from_address op (of CXRAY_SMTP_FROM)",
                )
            )
        if self.username and not self.password:
            raise MailSettingsError(
                Message(
                    f"{SOURCE}: [mail] username is set but {PASSWORD_VARIABLE} is not: set the "
                    "password in the environment",
                    f"{SOURCE}: [mail] username is opgegeven maar {PASSWORD_VARIABLE} niet: zet "
                    "het wachtwoord in de omgeving",
                )
            )

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        """What may be shown: everything but the password (whether there is one)."""
        data = dataclasses.asdict(self)
        data["password"] = bool(self.password)
        data["configured"] = self.configured
        return data


def _fail(key: str, en: str, nl: str) -> MailSettingsError:
    return MailSettingsError(
        Message(f"{SOURCE}: [mail] '{key}' {en}", f"{SOURCE}: [mail] '{key}' {nl}")
    )


def _text(table: Mapping[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(
            key,
            f'must be text in quotes, e.g. {key} = "..."',
            f'moet tekst tussen aanhalingstekens zijn, bijv. {key} = "..."',
        )
    value = value.strip()
    if any(c in value for c in "\r\n\x00"):
        raise _fail(key, "must be one line", "moet één regel zijn")
    return value or None


def _whole(table: Mapping[str, Any], key: str, low: int, high: int, default: int | None) -> Any:
    value = table.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(
            key,
            f"must be a whole number from {low} to {high} (without quotes)",
            f"moet een geheel getal van {low} tot {high} zijn (zonder aanhalingstekens)",
        )
    return value


def _address(key: str, value: str | None) -> str | None:
    if value is not None and not _ADDRESS.match(value):
        raise _fail(
            key,
            f"must be an e-mail address such as service@example.com, not {value!r}",
            f"moet een e-mailadres zijn zoals service@example.com, niet {value!r}",
        )
    return value


def read_settings(
    journey_settings: Mapping[str, Any] | None, env: Mapping[str, str] | None = None
) -> MailSettings:
    """``[mail]`` checked, with the environment on top. Unknown keys and wrong types are refused
    with the key named, in English and Dutch."""
    env = os.environ if env is None else env
    table = dict((journey_settings or {}).get("mail") or {})
    if "password" in table:
        raise _fail(
            "password",
            f"is never kept in the file: set {PASSWORD_VARIABLE} in the environment",
            f"staat nooit in het bestand: zet {PASSWORD_VARIABLE} in de omgeving",
        )
    unknown = sorted(set(table) - KEYS)
    if unknown:
        listed = ", ".join(sorted(KEYS))
        names = ", ".join(f"'{name}'" for name in unknown)
        raise MailSettingsError(
            Message(
                f"{SOURCE}: [mail] unknown key {names} (known: {listed})",
                f"{SOURCE}: [mail] onbekende sleutel {names} (bekend: {listed})",
            )
        )
    for variable, key in ENVIRONMENT.items():
        given = env.get(variable)
        if given is None or not given.strip():
            continue
        if key == "port":
            if not given.strip().isdigit():
                raise MailSettingsError(
                    Message(
                        f"{variable} must be a port number, not {given!r}",
                        f"{variable} moet een poortnummer zijn, niet {given!r}",
                    )
                )
            table[key] = int(given)
        else:
            table[key] = given
    starttls = table.get("starttls", False)
    if not isinstance(starttls, bool):
        raise _fail(
            "starttls",
            "must be true or false (without quotes)",
            "moet true of false zijn (zonder aanhalingstekens)",
        )
    timeout = table.get("timeout_seconds", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 1 <= timeout <= 600:
        raise _fail(
            "timeout_seconds",
            "must be a number of seconds from 1 to 600",
            "moet een aantal seconden van 1 tot 600 zijn",
        )
    port = _whole(table, "port", 1, 65535, 25)
    if starttls and port == IMPLICIT_TLS_PORT:
        raise _fail(
            "starttls",
            f"does not go with port {IMPLICIT_TLS_PORT}, which is encrypted from the start "
            "(implicit TLS): leave starttls out",
            f"past niet bij poort {IMPLICIT_TLS_PORT}, die vanaf het begin versleuteld is "
            "(impliciete TLS): laat starttls weg",
        )
    password = env.get(PASSWORD_VARIABLE) or None
    return MailSettings(
        host=_text(table, "host"),
        port=port,
        starttls=starttls,
        username=_text(table, "username"),
        password=password,
        from_address=_address("from_address", _text(table, "from_address")),
        from_name=_text(table, "from_name"),
        reply_to=_address("reply_to", _text(table, "reply_to")),
        max_attempts=_whole(table, "max_attempts", 1, 100, 5),
        batch_size=_whole(table, "batch_size", 1, 100_000, 100),
        rate_per_minute=_whole(table, "rate_per_minute", 1, 100_000, None),
        timeout_seconds=float(timeout),
    )


# -- the mail as the server gets it -----------------------------------------------------------
def message_id_header(message_id: str, settings: MailSettings) -> str:
    """A stable Message-ID: the outbox's id at the sender's domain (the same on every attempt,
    so a receiver that sees a mail twice can tell)."""
    domain = (settings.from_address or "cxray.invalid").rsplit("@", 1)[-1]
    return f"<{message_id}@{domain}>"


def build_message(
    *,
    message_id: str,
    recipient: str,
    subject: str,
    text: str,
    html: str | None,
    headers: Mapping[str, str],
    settings: MailSettings,
    date: Any,
) -> EmailMessage:
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["Message-ID"] = message_id_header(message_id, settings)
    mail["Date"] = email.utils.format_datetime(date)
    mail["From"] = email.utils.formataddr((settings.from_name or "", settings.from_address or ""))
    mail["To"] = recipient
    mail["Subject"] = subject
    if settings.reply_to:
        mail["Reply-To"] = settings.reply_to
    for name, value in sorted(headers.items()):
        mail[name] = value
    # quoted-printable: 7-bit safe for every server, still readable for Dutch and English
    mail.set_content(text, cte="quoted-printable")
    if html:
        mail.add_alternative(html, subtype="html", cte="quoted-printable")
    return mail


def wire_bytes(mail: EmailMessage) -> bytes:
    """The DATA of a mail: CRLF line ends, a line starting with a dot doubled (RFC 5321
    4.5.2), ending with CRLF; without the final ``.`` line."""
    data = mail.as_bytes(policy=email.policy.SMTP)
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


# -- the connection ---------------------------------------------------------------------------
class SmtpTransport:
    """One SMTP connection, opened on demand and reused for the next mail."""

    def __init__(self, settings: MailSettings):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    @property
    def is_open(self) -> bool:
        return self._smtp is not None

    def open(self) -> None:
        if self._smtp is not None:
            return
        settings = self.settings
        settings.require()
        try:
            if settings.implicit_tls:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    settings.host,
                    settings.port,
                    timeout=settings.timeout_seconds,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
            try:
                _no_delay(smtp)
                smtp.ehlo()
                if settings.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if settings.username:
                    smtp.login(settings.username, settings.password or "")
            except BaseException:
                smtp.close()
                raise
        except smtplib.SMTPAuthenticationError as exc:
            raise ConnectError(
                Message(
                    f"{settings.server} refused the login of {settings.username}: "
                    f"{_reply(exc.smtp_code, exc.smtp_error)}",
                    f"{settings.server} weigerde de aanmelding van {settings.username}: "
                    f"{_reply(exc.smtp_code, exc.smtp_error)}",
                )
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise ConnectError(
                Message(
                    f"{settings.server} does not offer what [mail] asks: {exc}",
                    f"{settings.server} biedt niet wat [mail] vraagt: {exc}",
                )
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ConnectError(
                Message(
                    f"cannot reach the mail server {settings.server}: {_reason(exc)}",
                    f"kan de mailserver {settings.server} niet bereiken: {_reason(exc)}",
                )
            ) from None
        self._smtp = smtp

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()

    def _drop(self) -> None:
        """Close without a word: a server that has not had the end of the data delivers
        nothing (RFC 5321 4.1.1.4)."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def noop(self) -> tuple[int, str]:
        self.open()
        assert self._smtp is not None
        code, text = self._smtp.noop()
        return code, _decoded(text)

    def deliver(
        self, sender: str, recipient: str, data: bytes, handing_over: Callable[[], None]
    ) -> str:
        """Send one mail; ``handing_over()`` runs just before the final ``.`` line.

        If ``handing_over`` raises, the connection is dropped before that line, so the server
        delivers nothing, and its error is raised. Raises :class:`SendError` otherwise."""
        self.open()
        smtp = self._smtp
        assert smtp is not None
        try:
            code, text = smtp.mail(sender)
            if code != 250:
                self._reset()
                raise SendError("server" if code >= 500 else _kind(code), code, _decoded(text))
            code, text = smtp.rcpt(recipient)
            if code not in (250, 251):
                self._reset()
                raise SendError("recipient" if code >= 500 else _kind(code), code, _decoded(text))
            code, text = smtp.docmd("DATA")
            if code != 354:
                self._reset()
                raise SendError(_kind(code, permanent="message"), code, _decoded(text))
            smtp.send(data)
        except SendError:
            raise
        except (OSError, smtplib.SMTPException, UnicodeError) as exc:
            self._drop()
            if isinstance(exc, UnicodeError):
                raise SendError("message", None, f"the address cannot be sent: {exc}") from None
            raise SendError("server", None, _reason(exc)) from None
        try:
            handing_over()
        except BaseException:
            self._drop()
            raise
        try:
            smtp.send(b".\r\n")
            code, text = smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise SendError("unheard", None, _reason(exc)) from None
        if code != 250:
            if code == 421:
                self._drop()
            raise SendError(_kind(code, permanent="message"), code, _decoded(text))
        return f"{code} {_decoded(text)}"

    def _reset(self) -> None:
        try:
            assert self._smtp is not None
            self._smtp.rset()
        except (OSError, smtplib.SMTPException, AssertionError):
            self._drop()


def _no_delay(smtp: smtplib.SMTP) -> None:
    # The final "." goes out as a write of its own: without this, Nagle's algorithm holds it
    # back until the server acknowledges the data (up to 40 ms per mail).
    with contextlib.suppress(OSError, AttributeError):
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _kind(code: int, permanent: str = "message") -> str:
    if code == 421:  # the server is closing the connection
        return "server"
    if 400 <= code < 500:
        return "temporary"
    if code >= 500:
        return permanent
    return "temporary"


def _decoded(text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(text.split())


def _reply(code: int | None, text: bytes | str) -> str:
    return f"{code} {_decoded(text)}" if code else _decoded(text)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "no answer in time (timeout)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror or exc})"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


# -- is sending possible? ---------------------------------------------------------------------
@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: Message


def check(settings: MailSettings) -> CheckResult:
    """Connect, greet (EHLO, STARTTLS and login when set), NOOP and leave: one line on whether
    sending works. Sends no mail."""
    try:
        settings.require()
    except MailSettingsError as exc:
        text = exc.args[0] if isinstance(exc.args[0], Message) else Message(str(exc), str(exc))
        return CheckResult(False, text)
    transport = SmtpTransport(settings)
    try:
        code, text = transport.noop()
    except ConnectError as exc:
        message = exc.args[0] if isinstance(exc.args[0], Message) else Message(str(exc), str(exc))
        return CheckResult(False, message)
    except (OSError, smtplib.SMTPException) as exc:
        reason = _reason(exc)
        return CheckResult(
            False,
            Message(
                f"{settings.server} broke off the conversation: {reason}",
                f"{settings.server} brak het gesprek af: {reason}",
            ),
        )
    finally:
        transport.close()
    how = "TLS" if settings.implicit_tls else "STARTTLS" if settings.starttls else "plain"
    login = f", signed in as {settings.username}" if settings.username else ""
    login_nl = f", aangemeld als {settings.username}" if settings.username else ""
    if code != 250:
        return CheckResult(
            False,
            Message(
                f"{settings.server} answered NOOP with {code} {text}",
                f"{settings.server} antwoordde op NOOP met {code} {text}",
            ),
        )
    return CheckResult(
        True,
        Message(
            f"sending works: {settings.server} answered ({how}{login}), "
            f"mail goes out from {settings.from_address}",
            f"versturen werkt: {settings.server} antwoordde ({how}{login_nl}), "
            f"mail gaat uit van {settings.from_address}",
        ),
    )


__all__ = [
    "CheckResult",
    "ConnectError",
    "MailSettings",
    "MailSettingsError",
    "SendError",
    "SmtpTransport",
    "build_message",
    "check",
    "message_id_header",
    "read_settings",
    "wire_bytes",
]
