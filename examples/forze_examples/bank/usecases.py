"""The bank's commands and queries, and the usecases that handle them."""

from __future__ import annotations

from forze import Command, DomainError, ExecutionContext, Usecase
from forze_examples.bank.account import ACCOUNTS
from forze_examples.bank.read_model import BALANCES, AccountBalance

__all__ = [
    "DEPOSIT",
    "GET_BALANCE",
    "OPEN_ACCOUNT",
    "TRANSFER",
    "WITHDRAW",
    "Deposit",
    "GetBalance",
    "OpenAccount",
    "Transfer",
    "Withdraw",
]


class OpenAccount(Command):
    """Open ``account_id`` for ``owner``."""

    account_id: str
    owner: str
    overdraft_limit: int = 0


class Deposit(Command):
    """Pay ``amount`` cents into an account."""

    account_id: str
    amount: int


class Withdraw(Command):
    """Pay ``amount`` cents out of an account."""

    account_id: str
    amount: int


class Transfer(Command):
    """Move ``amount`` cents between accounts; ``transfer_id`` makes retries safe."""

    transfer_id: str
    from_account: str
    to_account: str
    amount: int


class GetBalance(Command):
    """Ask for an account's balance from the read model."""

    account_id: str


async def _open_account(ctx: ExecutionContext, command: OpenAccount) -> int:
    """Open the account; ``ConcurrencyError`` if it already exists."""
    async with ctx.aggregates(ACCOUNTS).create(command.account_id) as account:
        account.open(command.owner, command.overdraft_limit)
    return account.version


async def _deposit(ctx: ExecutionContext, command: Deposit) -> int:
    """Deposit and return the new balance."""
    async with ctx.aggregates(ACCOUNTS).edit(command.account_id) as account:
        account.deposit(command.amount)
    return account.balance


async def _withdraw(ctx: ExecutionContext, command: Withdraw) -> int:
    """Withdraw within the overdraft limit and return the new balance."""
    async with ctx.aggregates(ACCOUNTS).edit(command.account_id) as account:
        account.withdraw(command.amount)
    return account.balance


async def _transfer(ctx: ExecutionContext, command: Transfer) -> None:
    """Debit the source and credit the target in one unit of work: both are stored, or
    neither is (a concurrent change to either account raises ``ConcurrencyError``, which
    ``retry_on_conflict`` answers by running the transfer again). Both sides are idempotent by
    transfer id, so a transfer run twice moves the money once."""
    async with ctx.unit_of_work() as unit:
        accounts = unit.aggregates(ACCOUNTS)
        target = await accounts.load(command.to_account)
        if not target.opened:
            raise DomainError(f"account {command.to_account} is not open")
        source = await accounts.load(command.from_account)
        source.send_transfer(command.transfer_id, command.to_account, command.amount)
        target.receive_transfer(command.transfer_id, command.from_account, command.amount)


async def _get_balance(ctx: ExecutionContext, query: GetBalance) -> AccountBalance | None:
    """The account's balance as the read model knows it (eventually consistent)."""
    return await ctx.read_models(BALANCES).get(query.account_id)


OPEN_ACCOUNT = Usecase.command("open_account", _open_account, ACCOUNTS)
DEPOSIT = Usecase.command("deposit", _deposit, ACCOUNTS)
WITHDRAW = Usecase.command("withdraw", _withdraw, ACCOUNTS)
TRANSFER = Usecase.command("transfer", _transfer, ACCOUNTS)
GET_BALANCE = Usecase.query("get_balance", _get_balance, BALANCES)
