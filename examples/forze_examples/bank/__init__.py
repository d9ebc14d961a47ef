"""Bank accounts: open, deposit, withdraw within an overdraft limit, transfer.

The example bounded context behind ``forze demo`` and the docs.
"""

from forze_examples.bank.account import ACCOUNTS, Account, InsufficientFunds
from forze_examples.bank.events import (
    AccountEvent,
    AccountOpened,
    MoneyDeposited,
    MoneyWithdrawn,
    TransferReceived,
    TransferSent,
)
from forze_examples.bank.read_model import (
    BALANCES,
    BALANCES_PROJECTION,
    PROJECTIONS,
    AccountBalance,
)
from forze_examples.bank.usecases import (
    DEPOSIT,
    GET_BALANCE,
    OPEN_ACCOUNT,
    TRANSFER,
    WITHDRAW,
    Deposit,
    GetBalance,
    OpenAccount,
    Transfer,
    Withdraw,
)

__all__ = [
    "ACCOUNTS",
    "BALANCES",
    "BALANCES_PROJECTION",
    "DEPOSIT",
    "GET_BALANCE",
    "OPEN_ACCOUNT",
    "PROJECTIONS",
    "TRANSFER",
    "WITHDRAW",
    "Account",
    "AccountBalance",
    "AccountEvent",
    "AccountOpened",
    "Deposit",
    "GetBalance",
    "InsufficientFunds",
    "MoneyDeposited",
    "MoneyWithdrawn",
    "OpenAccount",
    "Transfer",
    "TransferReceived",
    "TransferSent",
    "Withdraw",
]
