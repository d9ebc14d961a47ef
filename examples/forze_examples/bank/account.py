"""The ``Account`` aggregate and its spec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forze import Aggregate, AggregateSpec, DomainError, EventType
from forze_examples.bank.events import (
    AccountEvent,
    AccountOpened,
    MoneyDeposited,
    MoneyWithdrawn,
    TransferReceived,
    TransferSent,
)

__all__ = ["ACCOUNTS", "Account", "InsufficientFunds"]


class InsufficientFunds(DomainError):
    """A withdrawal or transfer would take the balance below the overdraft limit."""


class Account(Aggregate[AccountEvent]):
    """A bank account whose balance may not go below ``-overdraft_limit`` (amounts in cents).

    Transfers are idempotent by ``transfer_id`` on both sides, so a transfer retried after a
    crash or a conflict neither debits nor credits twice.
    """

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.owner = ""
        self.opened = False
        self.balance = 0
        self.overdraft_limit = 0
        self.transfers: set[str] = set()

    def open(self, owner: str, overdraft_limit: int = 0) -> None:
        """Open the account once."""
        if self.opened:
            raise DomainError(f"account {self.id} is already open")
        if not owner or overdraft_limit < 0:
            raise DomainError("an account needs an owner and a non-negative overdraft limit")
        self.emit(AccountOpened(owner=owner, overdraft_limit=overdraft_limit))

    def deposit(self, amount: int) -> None:
        """Pay in a positive amount."""
        self._check_open(amount)
        self.emit(MoneyDeposited(amount=amount))

    def withdraw(self, amount: int) -> None:
        """Pay out, keeping the overdraft invariant."""
        self._check_open(amount)
        self._check_funds(amount)
        self.emit(MoneyWithdrawn(amount=amount))

    def send_transfer(self, transfer_id: str, to_account: str, amount: int) -> None:
        """Debit the transfer (a no-op when ``transfer_id`` was already sent)."""
        if transfer_id in self.transfers:
            return
        self._check_open(amount)
        if to_account == self.id:
            raise DomainError("cannot transfer to the same account")
        self._check_funds(amount)
        self.emit(TransferSent(transfer_id=transfer_id, to_account=to_account, amount=amount))

    def receive_transfer(self, transfer_id: str, from_account: str, amount: int) -> None:
        """Credit the transfer (a no-op when ``transfer_id`` was already received)."""
        if transfer_id in self.transfers:
            return
        self._check_open(amount)
        self.emit(
            TransferReceived(transfer_id=transfer_id, from_account=from_account, amount=amount)
        )

    def apply(self, event: AccountEvent) -> None:
        """One branch per event type."""
        match event:
            case AccountOpened(owner=owner, overdraft_limit=limit):
                self.opened, self.owner, self.overdraft_limit = True, owner, limit
            case MoneyDeposited(amount=amount):
                self.balance += amount
            case MoneyWithdrawn(amount=amount):
                self.balance -= amount
            case TransferSent(transfer_id=transfer_id, amount=amount):
                self.balance -= amount
                self.transfers.add(transfer_id)
            case TransferReceived(transfer_id=transfer_id, amount=amount):
                self.balance += amount
                self.transfers.add(transfer_id)

    def snapshot_state(self) -> Mapping[str, Any]:
        """The whole state, JSON-able."""
        return {
            "owner": self.owner,
            "opened": self.opened,
            "balance": self.balance,
            "overdraft_limit": self.overdraft_limit,
            "transfers": sorted(self.transfers),
        }

    def restore_snapshot(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`snapshot_state` saved."""
        self.owner = state["owner"]
        self.opened = state["opened"]
        self.balance = state["balance"]
        self.overdraft_limit = state["overdraft_limit"]
        self.transfers = set(state["transfers"])

    def _check_open(self, amount: int) -> None:
        if not self.opened:
            raise DomainError(f"account {self.id} is not open")
        if amount <= 0:
            raise DomainError("amounts must be positive")

    def _check_funds(self, amount: int) -> None:
        if self.balance - amount < -self.overdraft_limit:
            raise InsufficientFunds(
                f"account {self.id}: balance {self.balance} minus {amount} would pass the "
                f"overdraft limit {self.overdraft_limit}"
            )


ACCOUNTS: AggregateSpec[Account] = AggregateSpec(
    name="account",
    factory=Account,
    events=(
        EventType("AccountOpened", AccountOpened),
        EventType("MoneyDeposited", MoneyDeposited),
        EventType("MoneyWithdrawn", MoneyWithdrawn),
        EventType("TransferSent", TransferSent),
        EventType("TransferReceived", TransferReceived),
    ),
    snapshot_every=50,
)
"""Accounts live in streams ``account-<id>``; a snapshot every 50 events."""
