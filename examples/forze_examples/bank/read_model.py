"""The balances read model and the projection that builds it from the feed."""

from __future__ import annotations

from pydantic import BaseModel

from forze import ReadModelSpec, ReadModelStores, RecordedEvent
from forze_projections import Projection, ProjectionHandler

__all__ = ["BALANCES", "BALANCES_PROJECTION", "PROJECTIONS", "AccountBalance"]


class AccountBalance(BaseModel):
    """One account's balance and activity, as the projection saw it."""

    account_id: str
    owner: str
    balance: int = 0
    transactions: int = 0
    version: int = 1
    """The account stream version applied last: replays of older events are skipped."""


BALANCES: ReadModelSpec[AccountBalance] = ReadModelSpec(
    "account_balances",
    AccountBalance,
    key="account_id",
    indexes=("balance",),
    search_fields=("owner",),
)


def _account_id(event: RecordedEvent) -> str:
    return event.stream_id.partition("-")[2]


async def _opened(event: RecordedEvent, read_models: ReadModelStores) -> None:
    balance = AccountBalance(account_id=_account_id(event), owner=event.data["owner"])
    await read_models(BALANCES).upsert(balance)


def _moves(sign: int) -> ProjectionHandler:
    async def handle(event: RecordedEvent, read_models: ReadModelStores) -> None:
        store = read_models(BALANCES)
        current = await store.get(_account_id(event))
        if current is None or event.version <= current.version:
            return
        await store.patch(
            current.account_id,
            {
                "balance": current.balance + sign * event.data["amount"],
                "transactions": current.transactions + 1,
                "version": event.version,
            },
        )

    return handle


_credit = _moves(+1)
_debit = _moves(-1)

BALANCES_PROJECTION = Projection(
    name="account_balances",
    version=1,
    handlers={
        "AccountOpened": _opened,
        "MoneyDeposited": _credit,
        "TransferReceived": _credit,
        "MoneyWithdrawn": _debit,
        "TransferSent": _debit,
    },
    read_models=(BALANCES,),
)
"""Balances per account; handles the five account event types."""

PROJECTIONS = (BALANCES_PROJECTION,)
"""Every projection of the bank (what ``forze projections ...`` runs by default)."""
