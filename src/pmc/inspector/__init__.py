"""``pmc ui``'s web inspector: an ASGI app over ``pmc.runtime.operations.Operations``.

One entry point, :func:`create_app`. Its pages show what ``pmc ps`` and
``pmc show`` print (the same ``Operations`` answers, and the same JSON at
``/api/...``), an instance on its process diagram (``diagram``, SVG drawn on
the server), and, when the app is created with ``allow_actions``, forms for
the operator actions. Needs the ``ui`` extra (Starlette); see
``docs/operations.md``, "The inspector".
"""

from __future__ import annotations

from pmc.inspector.app import Settings, create_app

__all__ = ["Settings", "create_app"]
