"""The inspector's routes: thin handlers between HTTP and ``Operations``.

Pages (HTML, from ``templates/``, autoescaped; their one stylesheet is
``/inspector.css``):

- ``GET /``: the instance list, filtered by the query string as ``pmc ps``
  is by its options (``status``, ``state=Machine.State``, ``stuck_for``,
  ``limit``, ``after``), with counts by status and by machine state;
- ``GET /instances/{key}`` or ``GET /instance?key=``: one instance, as
  ``pmc show`` describes it, on its diagram (the query form reaches every
  key: a browser rewrites a path's ``.`` and ``..``);
- ``POST /actions/{cancel|retry|fire|move}``: an operator action (only
  with ``allow_actions``; 403 otherwise), answered with a redirect (303)
  to the instance page saying what was recorded.

JSON (what ``pmc ps --format json`` and ``pmc show --format json`` print):
``GET /api/instances`` and ``GET /api/instances/{key}`` (or
``/api/instance?key=``). A store that cannot answer is a 503 with the
driver's reason.

Requests whose ``Host`` is not one the server is reached by are refused
(a DNS-rebinding page would send its own name); a POST must also carry the
server's CSRF token and, if it says where it comes from (``Origin``), come
from the page's own origin. No answer may be framed by another site.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pmc.diagnostics.escapes import escape_text
from pmc.errors import PmcError
from pmc.filters import FilterError, parse_duration, parse_machine_state
from pmc.inspector.diagram import machine_graphs, render_svg
from pmc.runtime.actions import ActionResult, OperationRefused
from pmc.runtime.instances import MAX_LIMIT, InstanceStatus
from pmc.runtime.operations import InstancePage, Operations, UnknownInstance
from pmc.runtime.stores import database_reason

TEMPLATES = Path(__file__).parent / "templates"
# The list's counts read the index a page of MAX_LIMIT rows at a time, up to this many.
COUNT_LIMIT = 10_000
DEFAULT_LIMIT = 50
ACTIONS = ("cancel", "retry", "fire", "move")


@dataclass(frozen=True, slots=True)
class Settings:
    """How the app serves: ``hosts``, the names it is reached by (``Host`` without
    its port); ``allow_actions``: the action forms and routes; ``default_by``:
    who the forms record as acting until the operator writes another name."""

    hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")
    allow_actions: bool = False
    default_by: str = "ui"
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))


class BadRequest(PmcError):
    """A request the app answers with 400 and this message."""


@dataclass(frozen=True, slots=True)
class Counts:
    """Instances by status and by machine state (an instance with a machine instance in it)."""

    by_status: Mapping[str, int]
    by_state: Mapping[tuple[str, str], int]
    complete: bool  # False: only the first COUNT_LIMIT instances were counted


class _KeyConvertor(Convertor[str]):
    """A key in a path: any characters, line breaks too (``path``'s ``.*`` stops at one)."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("key", _KeyConvertor())


def create_app(operations: Operations, settings: Settings | None = None) -> Starlette:
    """The inspector of ``operations``'s process and store."""
    chosen = settings or Settings()
    inspector = _Inspector(operations, chosen)
    routes = [
        Route("/", inspector.index),
        Route("/inspector.css", inspector.stylesheet),
        Route("/instance", inspector.instance),
        Route("/instances/{key:key}", inspector.instance),
        Route("/api/instances", inspector.api_list),
        Route("/api/instance", inspector.api_instance),
        Route("/api/instances/{key:key}", inspector.api_instance),
        Route("/actions/{action}", inspector.act, methods=["POST"]),
    ]
    middleware = [
        Middleware(_SecurityHeaders),
        Middleware(TrustedHostMiddleware, allowed_hosts=list(chosen.hosts)),
    ]
    handlers = {SQLAlchemyError: inspector.store_error}
    return Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)


# On every answer: no page of another site may frame the inspector (and steer an
# operator's clicks on its actions), and a page loads nothing but its own stylesheet.
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
)


class _SecurityHeaders:
    """ASGI middleware adding ``SECURITY_HEADERS`` to every response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _Inspector:
    def __init__(self, operations: Operations, settings: Settings) -> None:
        self.operations = operations
        self.settings = settings
        self.graphs = machine_graphs(operations.definition)
        self.css = (TEMPLATES / "inspector.css").read_text(encoding="utf-8")
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals["new_action_id"] = new_action_id
        # Keys and machine ids as `pmc ps` and `pmc show` print them: controls escaped.
        self.templates.filters["shown"] = escape_text
        self.templates.filters["key_url"] = key_url
        self.templates.filters["moment"] = moment
        self.templates.filters["json"] = shown_json

    # ---- pages -------------------------------------------------------------------

    def index(self, request: Request) -> Response:
        try:
            query = _list_query(request.query_params)
            page = self.operations.instances(**query)
        except (BadRequest, ValueError) as error:
            return self._page("error.html", {"message": str(error)}, 400)
        context = {
            "page": page,
            "counts": self._counts(),
            "count_limit": COUNT_LIMIT,
            "params": dict(request.query_params),
            "statuses": [status.value for status in InstanceStatus],
            "state_names": self._state_names(),
            "next_url": _next_url(request.query_params, page),
        }
        return self._page("list.html", context)

    async def stylesheet(self, request: Request) -> Response:
        return Response(self.css, media_type="text/css")

    def instance(self, request: Request) -> Response:
        try:
            key = _key(request)
        except BadRequest as error:
            return self._page("error.html", {"message": str(error)}, 400)
        return self._instance_page(key, done=request.query_params.get("done"))

    def api_list(self, request: Request) -> Response:
        try:
            page = self.operations.instances(**_list_query(request.query_params))
        except (BadRequest, ValueError) as error:
            return JSONResponse({"error": str(error)}, 400)
        return JSONResponse(page.to_json())

    def api_instance(self, request: Request) -> Response:
        try:
            described = self.operations.describe(_key(request))
        except BadRequest as error:
            return JSONResponse({"error": str(error)}, 400)
        except (UnknownInstance, ValueError, TypeError) as error:
            return JSONResponse({"error": str(error)}, 404)
        return JSONResponse(described.to_json())

    async def act(self, request: Request) -> Response:
        if not self.settings.allow_actions:
            message = "actions are off: start `pmc ui` with --allow-actions to take them"
            return self._page("error.html", {"message": message}, 403)
        form = {name: str(value) for name, value in (await request.form()).items()}
        refused = self._forbidden(request, form)
        if refused:
            return self._page("error.html", {"message": refused}, 403)
        action = request.path_params["action"]
        key = form.get("key", "")
        try:
            take = self._action(action, form)
        except BadRequest as error:
            return self._page("error.html", {"message": str(error)}, 400)
        try:
            result = await run_in_threadpool(take)
        except (UnknownInstance, ValueError, TypeError) as error:
            return self._page("error.html", {"message": str(error)}, 404)
        except OperationRefused as refusal:
            return await run_in_threadpool(
                partial(self._instance_page, key, refusal=str(refusal), status=409)
            )
        # Post/redirect/get: reloading the answer shows the page again, it sends nothing.
        done = urlencode({"key": key, "done": _done(result)})
        return RedirectResponse(f"/instance?{done}", 303)

    def store_error(self, request: Request, error: Exception) -> Response:
        """The store could not answer (down, locked): a 503 saying why, in the driver's words."""
        assert isinstance(error, SQLAlchemyError)  # the only exception this handles
        message = f"the store cannot answer: {database_reason(error)}"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, 503)
        return self._page("error.html", {"message": message}, 503)

    # ---- helpers -----------------------------------------------------------------

    def _instance_page(
        self, key: str, *, done: str | None = None, refusal: str | None = None, status: int = 200
    ) -> Response:
        try:
            described = self.operations.describe(key)
        except (UnknownInstance, ValueError, TypeError) as error:
            return self._page("error.html", {"message": str(error)}, 404)
        definition = self.operations.definition
        context = {
            "instance": described,
            "diagram": Markup(render_svg(self.graphs, described.states)),  # escaped inside
            "done": done,
            "refusal": refusal,
            "task_names": sorted(definition.tasks),
            "state_names": self._state_names(),
        }
        return self._page("instance.html", context, status)

    def _page(self, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        html = self.templates.get_template(template).render(
            category=self.operations.category,
            allow_actions=self.settings.allow_actions,
            default_by=self.settings.default_by,
            csrf_token=self.settings.csrf_token,
            **context,
        )
        return HTMLResponse(html, status)

    def _state_names(self) -> list[str]:
        return [f"{graph.name}.{state}" for graph in self.graphs for state in graph.states]

    def _counts(self) -> Counts:
        by_status: Counter[str] = Counter()
        by_state: Counter[tuple[str, str]] = Counter()
        after: str | None = None
        counted = 0
        while counted < COUNT_LIMIT:
            page = self.operations.instances(limit=MAX_LIMIT, after=after)
            for row in page.items:
                by_status[row.status.value] += 1
                for machine, ids in row.states.items():
                    by_state.update({(machine, state) for state in ids.values()})
            counted += len(page.items)
            if page.next_after is None:
                return Counts(by_status, by_state, complete=True)
            after = page.next_after
        return Counts(by_status, by_state, complete=False)

    def _forbidden(self, request: Request, form: Mapping[str, str]) -> str | None:
        """Why a POST is refused: a missing or wrong CSRF token, or another page's origin."""
        token = form.get("csrf", "")
        if not hmac.compare_digest(token.encode(), self.settings.csrf_token.encode()):
            return "the form's CSRF token is missing or wrong: reload the page and try again"
        origin = request.headers.get("origin")
        own = f"{request.url.scheme}://{request.headers.get('host')}"
        if origin is not None and origin != own:
            return "the form was sent from another origin"
        return None

    def _action(self, action: str, form: Mapping[str, str]) -> Callable[[], ActionResult]:
        """The action the form asks for, checked, ready to take."""
        if action not in ACTIONS:
            raise BadRequest(f"no action {action!r} (actions: {', '.join(ACTIONS)})")
        # The key and machine id are kept as sent: " t2 " and "t2" are two instances.
        key = form.get("key", "")
        by, reason = (form.get(name, "").strip() for name in ("by", "reason"))
        if not key:
            raise BadRequest("the form names no instance (key)")
        if not by or not reason:
            raise BadRequest("say who acts (by) and why (reason): both are recorded")
        machine_id = form.get("machine_id") or None
        # Each rendered form has its own id: the same form sent twice is recorded once.
        action_id = form.get("action_id") or None
        ops = self.operations
        if action == "cancel":
            return lambda: ops.cancel(key, by=by, reason=reason, action_id=action_id)
        if action == "retry":
            task = _required(form, "task")
            return lambda: ops.retry(
                key, task, machine_id, by=by, reason=reason, action_id=action_id
            )
        if action == "fire":
            transition = _required(form, "transition")
            return lambda: ops.fire(
                key, transition, machine_id, by=by, reason=reason, action_id=action_id
            )
        try:
            machine, state = parse_machine_state(_required(form, "to"), "to")
        except FilterError as error:
            raise BadRequest(str(error)) from None
        return lambda: ops.move(
            key, machine, machine_id, state, by=by, reason=reason, action_id=action_id
        )


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise BadRequest(f"the form is missing {name!r}")
    return value


def _list_query(params: Mapping[str, str]) -> dict[str, Any]:
    """``Operations.instances``'s arguments from the list's query string (empty: not given)."""
    # Filters are typed by hand and trimmed; ``after`` is a key, kept exactly as sent.
    given = {name: value.strip() for name, value in params.items() if value.strip()}
    if params.get("after"):
        given["after"] = params["after"]
    try:
        limit = int(given.get("limit", DEFAULT_LIMIT))
        state = given.get("state")
        stuck_for = given.get("stuck_for")
        return {
            "status": given.get("status"),
            "state": parse_machine_state(state, "state") if state else None,
            "stuck_for": parse_duration(stuck_for, "stuck-for") if stuck_for else None,
            "limit": limit,
            "after": given.get("after"),
        }
    except FilterError as error:
        raise BadRequest(f"{error} ({error.help})" if error.help else str(error)) from None
    except ValueError:
        raise BadRequest(f"limit must be a number, not {given['limit']!r}") from None


def _next_url(params: Mapping[str, str], page: InstancePage) -> str | None:
    if page.next_after is None:
        return None
    return "/?" + urlencode({**params, "after": page.next_after})


def _done(result: ActionResult) -> str:
    if result.deduplicated:
        return f"{result.action}: recorded before; nothing recorded again"
    recorded = ", ".join(event.name for event in result.events)
    return f"{result.action} recorded ({recorded}); the stream is at version {result.version}"


def new_action_id() -> str:
    """A rendered form's own ``action_id``: Operations records an action once per id."""
    return f"ui-{secrets.token_urlsafe(16)}"


def _key(request: Request) -> str:
    """The key a page is asked for: in its path (``/instances/KEY``) or its query (``?key=``)."""
    key = request.path_params.get("key", request.query_params.get("key"))
    if key is None:
        raise BadRequest("no instance named: /instance?key=KEY")
    return str(key)


def key_url(key: str, api: bool = False) -> str:
    """The instance page of ``key`` (or its JSON): ``/instances/KEY``, every character but
    letters and digits quoted; a browser reads ``.`` and ``..`` (quoted or not) in a path
    as "here" and "up", so those two keys are passed in the query instead."""
    prefix = "/api/instance" if api else "/instance"
    if key in (".", ".."):
        return f"{prefix}?{urlencode({'key': key})}"
    return f"{prefix}s/{quote(key, safe='')}"


def shown_json(value: object, indent: int | None = None) -> str:
    """JSON to read on a page; the template escapes it as any text (jinja's ``tojson``
    would show ``<`` as ``\\u003c``)."""
    return json.dumps(value, indent=indent, ensure_ascii=False)


def moment(value: Any) -> str:
    return "-" if value is None else str(value.isoformat(" ", "seconds"))
