"""The balances read model and the projection that builds it from the feed."""

from __future__ import annotations

from pydantic import BaseModel

from forze import ReadModelSpec, ReadModelStores, RecordedEvent
from forze_examples.bank.account import ACCOUNTS
from forze_examples.bank.events import (
    AccountOpened,
    MoneyDeposited,
    MoneyWithdrawn,
    TransferReceived,
    TransferSent,
)
from forze_projections import EventHandler, Projection, on

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


def _account_id(envelope: RecordedEvent) -> str:
    return envelope.stream_id.partition("-")[2]


async def _opened(
    event: AccountOpened, envelope: RecordedEvent, read_models: ReadModelStores
) -> None:
    balance = AccountBalance(account_id=_account_id(envelope), owner=event.owner)
    await read_models(BALANCES).upsert(balance)


_Move = MoneyDeposited | MoneyWithdrawn | TransferReceived | TransferSent
"""The events that move money in (+) or out (-) of an account."""


def _moves(sign: int) -> EventHandler[_Move]:
    async def handle(event: _Move, envelope: RecordedEvent, read_models: ReadModelStores) -> None:
        store = read_models(BALANCES)
        current = await store.get(_account_id(envelope))
        if current is None or envelope.version <= current.version:
            return
        await store.patch(
            current.account_id,
            {
                "balance": current.balance + sign * event.amount,
                "transactions": current.transactions + 1,
                "version": envelope.version,
            },
        )

    return handle


_credit = _moves(+1)
_debit = _moves(-1)

BALANCES_PROJECTION = Projection.typed(
    "account_balances",
    version=1,
    specs=(ACCOUNTS,),
    handlers=(
        on(AccountOpened, _opened),
        on(MoneyDeposited, _credit),
        on(TransferReceived, _credit),
        on(MoneyWithdrawn, _debit),
        on(TransferSent, _debit),
    ),
    read_models=(BALANCES,),
)
"""Balances per account; handles the five account event types."""

PROJECTIONS = (BALANCES_PROJECTION,)
"""Every projection of the bank (what ``forze projections ...`` runs by default)."""
