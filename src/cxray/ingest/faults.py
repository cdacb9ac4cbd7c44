"""Named points where an import can be made to crash, so that tests can prove recovery.

Setting ``CXRAY_CRASH_AT=<point>`` in the environment kills the process with SIGKILL when it
reaches that point, as a power cut or an out-of-memory kill would. Unset (always, in normal
use), a crash point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "CXRAY_CRASH_AT"
# in the order an import passes them; the journey file is written after the last
POINTS = ("before-commit", "after-commit", "after-quarantine")


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
