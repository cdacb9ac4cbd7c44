"""cxray: customer-experience analytics on your own journey data.

>>> import cxray
>>> ws = cxray.init("my-workspace", template="five-phase")
>>> ws.import_table("events", "events.csv")
>>> ws.status()
"""

from cxray.journey import Journey
from cxray.workspace import Workspace, WorkspaceError, init
from cxray.workspace import open as open

__version__ = "0.1.0"
__all__ = ["Journey", "Workspace", "WorkspaceError", "__version__", "init", "open"]
