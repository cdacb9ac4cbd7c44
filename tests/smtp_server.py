"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), recording every message it accepts.

    from tests.smtp_server import smtp_server  # noqa: F401  (the fixture)

    def test_it_arrives(smtp_server):
        ...  # send to 127.0.0.1:smtp_server.port
        assert smtp_server.wait_for(1)
        [message] = smtp_server.messages
        message["Subject"], message.get_body(("plain",)).get_content()

It can refuse an address for good (``refuse("x@example.com")``: 550 on RCPT), fail for a
while (``fail_temporarily("x@example.com", times=1)``: 451 on RCPT, or ``at="data"``), and call
``on_rcpt`` / ``on_message`` hooks (a test that kills the sender at a given moment).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message: EmailMessage


@dataclass
class _Trouble:
    code: int
    text: str
    at: str  # "rcpt" or "data"
    times: int | None  # None: for good


@dataclass
class SmtpRecorder:
    """What the server was told, and what it should refuse. Thread-safe."""

    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    on_rcpt: Callable[[str], None] | None = None
    on_message: Callable[[Received], None] | None = None
    _trouble: dict[str, _Trouble] = field(default_factory=dict)
    _lock: threading.Condition = field(default_factory=threading.Condition)

    # -- what to refuse ---------------------------------------------------------------------------
    def refuse(self, address: str, code: int = 550, text: str = "5.1.1 No such user") -> None:
        """Refuse ``address`` for good on RCPT."""
        self._trouble[address.lower()] = _Trouble(code, text, "rcpt", None)

    def fail_temporarily(
        self,
        address: str,
        times: int | None = 1,
        code: int = 451,
        at: str = "rcpt",
        text: str = "4.3.0 Try again later",
    ) -> None:
        """Answer ``code`` for ``address`` the next ``times`` times (None: always)."""
        self._trouble[address.lower()] = _Trouble(code, text, at, times)

    def _trouble_for(self, address: str, at: str) -> str | None:
        trouble = self._trouble.get(address.lower())
        if trouble is None or trouble.at != at:
            return None
        if trouble.times is not None:
            if trouble.times <= 0:
                return None
            trouble.times -= 1
        return f"{trouble.code} {trouble.text}"

    # -- what arrived -----------------------------------------------------------------------------
    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return [item.message for item in self.received]

    def message_ids(self) -> Counter[str]:
        """How often each Message-ID arrived."""
        with self._lock:
            return Counter(str(item.message["Message-ID"]) for item in self.received)

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until at least ``count`` messages arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
        self._trouble.clear()
        self.on_rcpt = self.on_message = None

    # -- aiosmtpd's handler -----------------------------------------------------------------------
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list
    ) -> str:
        if self.on_rcpt is not None:
            self.on_rcpt(address)
        refusal = self._trouble_for(address, "rcpt")
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for address in envelope.rcpt_tos:
            refusal = self._trouble_for(address, "data")
            if refusal:
                return refusal
        data = bytes(envelope.original_content or envelope.content)
        message = email.message_from_bytes(data, policy=email.policy.default)
        item = Received(envelope.mail_from, list(envelope.rcpt_tos), data, message)
        with self._lock:
            self.received.append(item)
            self._lock.notify_all()
        if self.on_message is not None:
            self.on_message(item)
        return "250 Message accepted for delivery"


@contextlib.contextmanager
def running_smtp_server() -> Iterator[SmtpRecorder]:
    """A server on a free port of 127.0.0.1 for the length of the block."""
    recorder = SmtpRecorder(port=free_port())
    controller = Controller(recorder, hostname=recorder.host, port=recorder.port)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpRecorder]:
    """A real SMTP server on 127.0.0.1 that records what it accepts (see the module)."""
    with running_smtp_server() as recorder:
        yield recorder
