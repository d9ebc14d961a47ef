"""``read_models_router``: read-model queries over HTTP, one set of routes per spec."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import create_model

from forze.contracts import Query as ReadModelQuery
from forze.contracts import ReadModelReader, ReadModelSpec
from forze.domain.errors import NotFoundError
from forze.execution import OperationKind, Runtime
from forze_fastapi._current import correlation_id
from forze_fastapi._queries import parse_filters, parse_sort

__all__ = ["read_models_router"]

Filters = Annotated[
    list[str] | None,
    Query(alias="filter", description="field:op:value (op: eq ne lt le gt ge in)"),
]


def read_models_router(
    runtime: Runtime, specs: Sequence[ReadModelSpec[Any]], *, prefix: str = "/read-models"
) -> APIRouter:
    """For each read model of ``specs``, under ``/read-models/<name>``:

    - ``GET /documents/{key}``: one document (404 when there is none);
    - ``GET /documents``: a page: ``filter=field:op:value`` (repeated: all must hold),
      ``sort=field,-other``, ``limit`` and the ``cursor`` of the previous page;
    - ``GET /count``: how many documents the filters match;
    - ``GET /search?q=``: documents matching words.

    Fields, operators and values are checked against the model: a bad one is 422 naming it.
    The documents' schema is the model's, in the OpenAPI document too.
    """
    router = APIRouter(prefix=prefix, tags=["read models"])
    for spec in specs:
        _routes(router, runtime, spec)
    return router


def _routes(router: APIRouter, runtime: Runtime, spec: ReadModelSpec[Any]) -> None:
    model = spec.model
    page_model = create_model(
        f"{model.__name__}Page",
        items=(list[model], ...),  # type: ignore[valid-type]
        next_cursor=(str | None, None),
    )
    base = f"/{spec.name}"

    def reader() -> ReadModelReader[Any]:
        context = runtime.context(OperationKind.QUERY, correlation_id=correlation_id())
        return context.read_models(spec)

    async def get_document(key: str) -> Any:
        document = await reader().get(key)
        if document is None:
            raise NotFoundError(f"{spec.name} has no document {key!r}")
        return document

    async def find_documents(
        filters: Filters = None,
        sort: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[str | None, Query(max_length=4096)] = None,
    ) -> Any:
        query = ReadModelQuery(
            filters=parse_filters(model, filters or ()),
            sort=parse_sort(model, sort),
            limit=limit,
            cursor=cursor,
        )
        page = await reader().find(query)
        return {"items": list(page.items), "next_cursor": page.next_cursor}

    async def count_documents(filters: Filters = None) -> dict[str, int]:
        return {"count": await reader().count(parse_filters(model, filters or ()))}

    async def search_documents(
        q: Annotated[str, Query(min_length=1, max_length=500)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    ) -> Any:
        return {"items": await reader().search(q, limit=limit)}

    search_model = create_model(f"{model.__name__}Matches", items=(list[model], ...))  # type: ignore[valid-type]
    router.add_api_route(
        f"{base}/documents/{{key}}",
        get_document,
        methods=["GET"],
        response_model=model,
        summary=f"Get one {spec.name} document",
    )
    router.add_api_route(
        f"{base}/documents",
        find_documents,
        methods=["GET"],
        response_model=page_model,
        summary=f"Find {spec.name} documents",
    )
    router.add_api_route(
        f"{base}/count", count_documents, methods=["GET"], summary=f"Count {spec.name} documents"
    )
    router.add_api_route(
        f"{base}/search",
        search_documents,
        methods=["GET"],
        response_model=search_model,
        summary=f"Search {spec.name} documents",
    )
