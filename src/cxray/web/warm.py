"""Warm-up: every page's default view computed in the background, so nobody waits for it.

After the app starts, and again whenever the data changes (an import, an edit of the journey),
one thread asks for each page's default answers through the very functions the views use, so
the cache keys cannot drift apart. It goes one page at a time and holds the warehouse for one
analysis at a time: a request waits at most for the analysis under way. When the app lends the
warehouse to a command (``host.release``) the round stops; once the command is done and the
data state has changed, a new round starts. The answers it asks for are pinned in the cache:
browsing filtered pages never pushes a default page out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cxray.analysis.filters import ReportFilter
from cxray.i18n import Message
from cxray.web.host import WorkspaceBusy, WorkspaceHost

log = logging.getLogger(__name__)
POLL_SECONDS = 2.0  # how often the thread looks whether the data changed
BUSY_BACKOFF = 5.0  # a command still has the warehouse: look again after this long


@dataclass(frozen=True)
class WarmPage:
    """One page (or part of one) to compute: its name, its words, its path and how."""

    name: str
    label: Message
    path: str
    warm: Callable[[WorkspaceHost], Any]


def default_pages() -> list[WarmPage]:
    """What every page of the app asks for with no filters, in the order people open them."""
    from cxray.web.views import canvas, customers, flows, overview, owners, touchpoints, why

    none = ReportFilter()

    def overview_page(host: WorkspaceHost) -> None:
        overview.overview_of(host, none)
        overview.choices_of(host)

    def flows_page(host: WorkspaceHost) -> None:
        flows.flows_of(host, none, "all")
        flows.dropoff_of(host, none)
        why.churn_rule_of(host, none)
        flows.journey_of(host)

    def why_part(name: str) -> Callable[[WorkspaceHost], Any]:
        return lambda host: why.part_of(host, name, none)

    def touchpoint_pages(host: WorkspaceHost) -> None:
        for name in touchpoints.known_of(host):
            touchpoints.touchpoint_of(host, name, none)

    def owner_pages(host: WorkspaceHost) -> None:
        for name in owners.known_owners_of(host):
            owners.owner_of(host, name, none)

    why_names = {
        "drivers": Message("churn drivers", "oorzaken van vertrek"),
        "dose_response": Message("dose-response", "dosis-respons"),
        "nps_drivers": Message("drivers of the score", "drijfveren van de score"),
        "themes": Message("themes", "thema's"),
        "phrases": Message("phrases", "zinsneden"),
    }
    return [
        WarmPage("overview", Message("overview", "overzicht"), "/", overview_page),
        WarmPage(
            "canvas",
            Message("journey canvas", "klantreiscanvas"),
            "/canvas",
            lambda host: canvas.canvas_of(host, none),
        ),
        WarmPage(
            "touchpoints",
            Message("touchpoints", "contactmomenten"),
            "/touchpoints",
            lambda host: touchpoints.listing_of(host, none),
        ),
        WarmPage("flows", Message("flows", "stromen"), "/flows", flows_page),
        *(
            WarmPage(
                f"why:{name}",
                Message(f"why: {label.en}", f"waarom: {label.nl}"),
                "/why",
                why_part(name),
            )
            for name, label in why_names.items()
        ),
        WarmPage(
            "at-risk",
            Message("customers at risk", "klanten met risico"),
            "/customers/at-risk",
            customers.risk_result,
        ),
        WarmPage(
            "onboarding",
            Message("onboarding", "onboarding"),
            "/customers/onboarding",
            customers.onboarding_result,
        ),
        WarmPage(
            "owners",
            Message("owners", "eigenaars"),
            "/owners",
            lambda host: owners.owners_of(host, none),
        ),
        # each touchpoint's and owner's own page: many analyses, so after the lists
        WarmPage(
            "touchpoint-pages",
            Message("every touchpoint's page", "de pagina van elk contactmoment"),
            "/touchpoints/*",
            touchpoint_pages,
        ),
        WarmPage(
            "owner-pages",
            Message("every owner's page", "de pagina van elke eigenaar"),
            "/owners/*",
            owner_pages,
        ),
    ]


Report = Callable[[WarmPage, float, Exception | None], None]


class Warmer:
    """The warm-up thread over one host: ``start()``, ``stop()``, ``status()``."""

    def __init__(
        self,
        host: WorkspaceHost,
        pages: list[WarmPage] | None = None,
        report: Report | None = None,
        poll: float = POLL_SECONDS,
    ):
        self.host = host
        self.pages = default_pages() if pages is None else pages
        self.report = report
        self.poll = poll
        self.rounds = 0  # rounds finished: every page warm for one state of the data
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._warm_state: Any = None
        self._done: dict[str, float] = {}  # page -> seconds, this round
        self._failed: set[str] = set()
        self._current: str | None = None
        self._round_state: Any = None
        self._finished = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._wake.set()  # the first round at once
        self._thread = threading.Thread(target=self._run, name="cxray-warm-up", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def kick(self) -> None:
        """Look at the data now rather than at the next poll."""
        self._wake.set()

    def wait_warm(self, timeout: float) -> bool:
        """Wait until a round has finished for the data as it is now; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._finished:
            while not self.is_warm():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._finished.wait(min(left, 0.5))
        return True

    def is_warm(self) -> bool:
        return self._warm_state is not None and self._warm_state == self.host.state

    def status(self) -> dict[str, Any]:
        """Which pages are warm for the data as it is now (for ``/status.json``)."""
        warm = self.is_warm()
        if warm:
            state = "warm"
        elif self.host.lent:
            state = "lent"  # a command has the warehouse: the warm-up waits
        else:
            state = "warming"
        done = dict(self._done) if self.host.state == self._round_state else {}
        return {
            "state": state,
            "rounds": self.rounds,
            "current": self._current,
            "pages": [
                {
                    "name": page.name,
                    "path": page.path,
                    "label": {"en": page.label.en, "nl": page.label.nl},
                    "warm": warm or page.name in done,
                    "seconds": done.get(page.name),
                    "failed": page.name in self._failed,
                }
                for page in self.pages
            ],
        }

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.poll)
            self._wake.clear()
            if self._stopping.is_set():
                return
            if self.host.lent:
                continue
            try:
                state = self.host.data_state()
            except WorkspaceBusy:
                self._stopping.wait(BUSY_BACKOFF)
                continue
            except Exception as exc:  # the pages will say what is wrong when opened
                log.info("warm-up: the workspace cannot be read: %s", exc)
                self._stopping.wait(BUSY_BACKOFF)
                continue
            if state != self._warm_state:
                self._round(state)

    def _round(self, state: Any) -> None:
        lends = self.host.lends
        self._round_state = state
        self._done = {}
        self._failed = set()
        for page in self.pages:
            if self._stopping.is_set() or self.host.lends != lends:
                return  # lent to a command: a new round once the data state is known again
            self._current = page.name
            started = time.perf_counter()
            error: Exception | None = None
            try:
                with self.host.pinning():
                    page.warm(self.host)
            except WorkspaceBusy:
                self._current = None
                return
            except Exception as exc:  # the page shows the error itself when it is opened
                log.info("warm-up of %s failed: %s", page.name, exc)
                error = exc
                self._failed.add(page.name)
            finally:
                self._current = None
            if self.host.lends != lends or self.host.state != state:
                return  # lent, or the data changed meanwhile: the answers are gone
            seconds = time.perf_counter() - started
            self._done[page.name] = seconds
            if self.report is not None:
                self.report(page, seconds, error)
        with self._finished:
            self._warm_state = state
            self.rounds += 1
            self._finished.notify_all()
