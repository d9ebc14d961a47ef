"""What can happen to a bank account."""

from __future__ import annotations

from forze import DomainEvent

__all__ = [
    "AccountEvent",
    "AccountOpened",
    "MoneyDeposited",
    "MoneyWithdrawn",
    "TransferReceived",
    "TransferSent",
]


class AccountOpened(DomainEvent):
    """An account was opened for ``owner`` with an overdraft limit (in cents)."""

    owner: str
    overdraft_limit: int


class MoneyDeposited(DomainEvent):
    """Cash was paid in."""

    amount: int


class MoneyWithdrawn(DomainEvent):
    """Cash was paid out."""

    amount: int


class TransferSent(DomainEvent):
    """Money left this account for ``to_account`` as part of ``transfer_id``."""

    transfer_id: str
    to_account: str
    amount: int


class TransferReceived(DomainEvent):
    """Money arrived from ``from_account`` as part of ``transfer_id``."""

    transfer_id: str
    from_account: str
    amount: int


AccountEvent = AccountOpened | MoneyDeposited | MoneyWithdrawn | TransferSent | TransferReceived
