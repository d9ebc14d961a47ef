"""The SQL fragments that scope the read side's statements to one tenant.

In the tenant-column layout (``PostgresDatabase.tenant`` set) every table of the read side
(checkpoints, snapshots, the projection registry, read models) is shared by the schema's
tenants: a ``tenant`` column leads its primary key and indexes, and every statement binds the
tenant as a parameter, filtering on it and setting it. Without a tenant every fragment is
empty, so statements are exactly those of a schema of its own.

The tenant is bound after a statement's own parameters (``$n`` where the statement has
``n - 1``), or, for statements numbered by :class:`Params`, first.
"""

from __future__ import annotations

from typing import TypeVar

from forze_postgres._pg_fields import Params

__all__ = ["TENANT_COLUMN", "Tenancy"]

T = TypeVar("T")

TENANT_COLUMN = "tenant TEXT NOT NULL"
"""The column definition of the tenant-column layout."""


class Tenancy:
    """How the statements of one database name and bind its tenant (nothing without one)."""

    def __init__(self, tenant: str | None) -> None:
        self.tenant = tenant
        self.column = "" if tenant is None else "tenant, "
        """Leads column lists, key and conflict targets and index columns, or is empty."""
        self.args: tuple[str, ...] = () if tenant is None else (tenant,)
        """The parameter bound after a statement's own: the tenant, or nothing."""

    def steps(self, plain: T, tenant_column: T) -> T:
        """The migration steps of this layout: ``plain``, or ``tenant_column`` with a tenant."""
        return plain if self.tenant is None else tenant_column

    def value(self, n: int) -> str:
        """Leads a VALUES or SELECT list: the tenant as parameter ``$n``, or nothing."""
        return "" if self.tenant is None else f"${n}::text, "

    def match(self, n: int) -> str:
        """Leads a WHERE condition: the row is the tenant's (parameter ``$n``), or nothing."""
        return "" if self.tenant is None else f"tenant = ${n}::text AND "

    def only(self, n: int) -> str:
        """A WHERE clause keeping the tenant's rows (parameter ``$n``), or nothing."""
        return "" if self.tenant is None else f" WHERE tenant = ${n}::text"

    def bind(self, params: Params) -> str:
        """:meth:`match`, with the tenant bound as the next parameter of ``params``."""
        if self.tenant is None:
            return ""
        return f"tenant = {params.add(self.tenant, 'text')} AND "
