"""cxray: customer-experience analytics on your own journey data.

>>> import cxray
>>> ws = cxray.init("my-workspace", template="five-phase")
>>> ws.import_table("events", "events.csv")
>>> ws.status()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cxray.journey import Journey
    from cxray.workspace import Workspace, WorkspaceError, init
    from cxray.workspace import open as open

__all__ = ["Journey", "Workspace", "WorkspaceError", "__version__", "init", "open"]

# The names above load on first use: `import cxray` (and every `cxray` command) then pays only
# for what it touches, not for the analysis engine behind a workspace.
_LAZY = {
    "Journey": "cxray.journey",
    "Workspace": "cxray.workspace",
    "WorkspaceError": "cxray.workspace",
    "init": "cxray.workspace",
    "open": "cxray.workspace",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'cxray' has no attribute {name!r}")
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _version() -> str:
    """The installed distribution's version: one source of truth, pyproject.toml."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cxray")
    except PackageNotFoundError:  # a source tree on sys.path, never installed
        return "0+unknown"
