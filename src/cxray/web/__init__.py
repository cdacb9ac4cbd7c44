"""The web app (``cxray serve``): pages over a workspace, each with its JSON twin."""

from __future__ import annotations

from typing import Any


def create_app(*args: Any, **kwargs: Any) -> Any:
    from cxray.web.app import create_app as create

    return create(*args, **kwargs)


__all__ = ["create_app"]
