"""``forze serve``: the bank example's API and the web console, on SQLite or any store URL."""

from __future__ import annotations

from forze import DepsModule
from forze_cli._inspect_store import require_forze_store
from forze_cli._stores import StoreTarget
from forze_examples.bank_http import SERVED_PROJECTIONS, serve_module

__all__ = ["READY", "serve", "store_module"]

READY = "forze: serving"
"""The line ``forze serve`` prints, followed by the console's address, once it listens."""


def store_module(target: StoreTarget) -> DepsModule:
    """The module of the store ``forze serve`` runs on: a SQLite file (created when missing;
    an existing file must be a forze store), or a PostgreSQL schema (in ``target``'s
    tenancy) or MongoDB database, whose forze tables are created or migrated on start."""
    if target.kind == "sqlite":
        path = target.path
        if path.exists():
            require_forze_store(path)
        from forze_projections import sqlite_module

        return sqlite_module(path, projections=SERVED_PROJECTIONS)
    if target.kind == "postgresql":
        from forze_postgres import postgres_module

        return postgres_module(
            target.url,
            schema=target.schema,
            tenant=target.tenant,
            projections=SERVED_PROJECTIONS,
        )
    from forze_mongo import mongo_module

    return mongo_module(target.url, projections=SERVED_PROJECTIONS)


async def serve(module: DepsModule, *, host: str, port: int) -> None:
    """Serve the bank's API and the console on ``module`` until interrupted."""
    await serve_module(module, host=host, port=port, ready=READY)
