"""``console_router``: a web console for the people who run a forze service.

Plain server-rendered HTML (Jinja2, escaped), one small script and one stylesheet shipped in
the package: no build step at install time, nothing fetched from the internet at run time.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from forze.contracts import EventStore, Filter, ReadModelReader, SortKey
from forze.contracts import Query as ReadModelQuery
from forze.domain.errors import InvalidInputError
from forze.execution import EVENT_STORE, OperationKind, Runtime
from forze_fastapi._console_ops import ProjectionControls
from forze_fastapi.errors import problem
from forze_projections import EVENT_LINKS, STREAMS, EventLink, ProjectionBusy

__all__ = ["console_router"]

MAX_VERSION = 2**31 - 1
PAGE = 50
"""Streams, events and links per page."""

_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
        " img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
"""Every console page: only its own script and stylesheet run, and it cannot be framed."""

HELD_HINT = "a process runs this projection: rebuild it (a reset would race its runner)"
"""Why the reset of a projection that a runner holds is refused (``Projector.reset``)."""

ACTION_HEADER = "X-Forze-Console"
"""The header every state-changing console request carries. A page of another site cannot
send it without a CORS preflight, which the console never grants: no cross-site rebuild."""

_TEMPLATES = Environment(
    loader=PackageLoader("forze_fastapi", "console_templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_TEMPLATES.filters["segment"] = lambda text: quote(str(text), safe="")
_TEMPLATES.filters["pretty"] = lambda value: json.dumps(
    value, indent=2, sort_keys=True, ensure_ascii=False, default=str
)


_ASSETS = {
    "console.js": "text/javascript",
    "console.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
"""The files of ``console_static`` the console serves, with their media types."""


def _asset(name: str) -> str:
    return resources.files("forze_fastapi").joinpath("console_static", name).read_text("utf-8")


def console_router(
    runtime: Runtime,
    *,
    prefix: str = "/console",
    feed_url: str = "/feed/live",
    title: str = "forze console",
    route: str | None = None,
) -> APIRouter:
    """The console's pages under ``prefix`` (left out of the OpenAPI document):

    - ``/``: the head of the feed and every projection's checkpoint, lag, state and holder,
      refreshed live, with rebuild and reset buttons (each asks for confirmation; a rebuild
      shows its progress);
    - ``/streams``: streams by recent activity, by category, or found by words of their id;
    - ``/streams/{id}``: a stream's events with data and metadata, each linked to its
      correlation, to the event that caused it and to the events it caused;
    - ``/events/{id}``, ``/correlations/{id}``: an event, or what one correlation did;
    - ``/feed``: the live feed, following ``feed_url`` (``events_router``'s Server-Sent
      Events) without a reload.

    Streams and links come from the catalog (``forze_projections.catalog_projection``),
    which the application must run among its projections. State changes need the
    ``X-Forze-Console`` header, so another site's page cannot trigger them.
    """
    router = APIRouter(prefix=prefix, include_in_schema=False)
    controls = ProjectionControls(runtime)
    assets = {name: (_asset(name), media_type) for name, media_type in _ASSETS.items()}

    def reader(spec: Any) -> ReadModelReader[Any]:
        return runtime.context(OperationKind.QUERY).read_models(spec)

    def events() -> EventStore:
        return runtime.context(OperationKind.QUERY).port(EVENT_STORE, route)

    def page(template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        text = _TEMPLATES.get_template(template).render(
            title=title, root=prefix, feed_url=feed_url, **values
        )
        return HTMLResponse(text, status_code=status_code, headers=_SECURITY_HEADERS)

    @router.get("/assets/{name}")
    async def asset(name: str) -> Response:
        found = assets.get(name)
        if found is None:
            return Response(status_code=404, headers=_SECURITY_HEADERS)
        text, media_type = found
        return Response(text, media_type=media_type, headers=_SECURITY_HEADERS)

    @router.get("/")
    async def overview() -> HTMLResponse:
        store = events()
        return page(
            "overview.html",
            head=await store.head_position(),
            streams=await reader(STREAMS).count(),
            projections=await controls.statuses(),
            has_projector=controls.projector() is not None,
            held_hint=HELD_HINT,
        )

    @router.get("/streams")
    async def streams(
        q: Annotated[str, Query(max_length=200)] = "",
        category: Annotated[str, Query(max_length=200)] = "",
        cursor: Annotated[str | None, Query(max_length=4096)] = None,
    ) -> HTMLResponse:
        catalog = reader(STREAMS)
        next_cursor = None
        if q.strip():
            found = await catalog.search(q, limit=PAGE)
        else:
            filters = (Filter("category", "eq", category),) if category else ()
            query = ReadModelQuery(
                filters=filters,
                sort=(SortKey("last_position", descending=True),),
                limit=PAGE,
                cursor=cursor,
            )
            result = await catalog.find(query)
            found, next_cursor = list(result.items), result.next_cursor
        return page("streams.html", streams=found, q=q, category=category, next_cursor=next_cursor)

    @router.get("/streams/{stream_id:path}")
    async def stream(
        stream_id: str,
        from_version: Annotated[int, Query(ge=1, le=MAX_VERSION)] = 1,
    ) -> HTMLResponse:
        store = events()
        version = await store.stream_version(stream_id)
        if version == 0:
            return page("missing.html", 404, what="stream", name=stream_id)
        found = await store.read_stream(stream_id, from_version=from_version, limit=PAGE)
        ids = [str(event.event_id) for event in found]
        caused = await _links(reader(EVENT_LINKS), "causation_id", ids, limit=PAGE * 10)
        effects: dict[str, list[EventLink]] = {}
        for link in caused:
            effects.setdefault(link.causation_id, []).append(link)
        last = found[-1].version if found else version
        return page(
            "stream.html",
            stream_id=stream_id,
            version=version,
            events=found,
            effects=effects,
            from_version=from_version,
            next_version=last + 1 if last < version else None,
        )

    @router.get("/events/{event_id}")
    async def event(event_id: Annotated[str, Path(max_length=500)]) -> Response:
        link = await reader(EVENT_LINKS).get(event_id)
        caused = await _links(reader(EVENT_LINKS), "causation_id", [event_id], limit=PAGE)
        if link is None and not caused:
            return page("missing.html", 404, what="event or message", name=event_id)
        return page("event.html", event_id=event_id, link=link, caused=caused)

    @router.get("/correlations/{correlation_id}")
    async def correlation(correlation_id: Annotated[str, Path(max_length=500)]) -> HTMLResponse:
        found = await _links(reader(EVENT_LINKS), "correlation_id", [correlation_id], PAGE * 4)
        if not found:
            return page("missing.html", 404, what="correlation", name=correlation_id)
        return page("correlation.html", correlation_id=correlation_id, links=found)

    @router.get("/feed")
    async def feed() -> HTMLResponse:
        return page("feed.html", head=await events().head_position())

    @router.get("/api/projections")
    async def projection_statuses() -> JSONResponse:
        return JSONResponse(await controls.statuses(), headers={"Cache-Control": "no-store"})

    @router.post("/api/projections/{name}/rebuild", status_code=202)
    async def rebuild(
        name: str, x_forze_console: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        if x_forze_console is None:
            return _refused()
        controls.start_rebuild(name)
        return JSONResponse({"rebuilding": name}, status_code=202)

    @router.post("/api/projections/{name}/reset")
    async def reset(
        name: str,
        confirm: Annotated[str, Body(embed=True, max_length=200)],
        x_forze_console: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        if x_forze_console is None:
            return _refused()
        if confirm != name:
            raise InvalidInputError(f"type the projection's name, {name!r}, to reset it")
        try:
            await controls.reset(name)
        except ProjectionBusy as busy:
            return problem(409, "busy", str(busy))
        return JSONResponse({"reset": name})

    @router.get("", include_in_schema=False)
    async def bare(request: Request) -> RedirectResponse:
        return RedirectResponse(str(request.url_for("overview")), status_code=307)

    return router


def _refused() -> JSONResponse:
    return problem(403, "forbidden", f"console actions need the {ACTION_HEADER} header")


async def _links(
    links: ReadModelReader[Any], field: str, values: list[str], limit: int
) -> list[EventLink]:
    """The catalogued events whose ``field`` is one of ``values``, in feed order."""
    if not values:
        return []
    query = ReadModelQuery(
        filters=(Filter(field, "in", values),), sort=(SortKey("position"),), limit=limit
    )
    return list((await links.find(query)).items)
