"""MKA1 Conversations: an open implementation of the MKA1 API's Conversations resource.

Run it with ``mka1-conversations serve``; build the ASGI app with :func:`create_app`.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":  # imported lazily: the CLI must not pay for the app to print help
        from .app import create_app

        return create_app
    raise AttributeError(name)
