"""A process of the multi-process ``forze_eventsourcing`` tests, run as
``python -m tests.eventsourcing_worker ACTION ...`` with ``PERSISTENCE_MODULE`` and
``FORZE_STORE`` in its environment:

- ``credit ACCOUNT TIMES``: credits the account 1 TIMES times, each retried until no other
  writer got there first (eventsourcing's ``IntegrityError``), then prints the retries;
- ``follow COUNT``: follows the application's notifications from the start and prints
  their ids, one per line, once it has seen COUNT of them.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from eventsourcing.tests.application import BankAccounts


def credit(account: UUID, times: int) -> None:
    """Credit ``account`` ``times`` times, each until it is stored."""
    bank = BankAccounts()
    retries = 0
    try:
        for _ in range(times):
            while True:
                try:
                    bank.credit_account(account, Decimal(1))
                    break
                except IntegrityError:
                    retries += 1
    finally:
        bank.close()
    print(retries)


def follow(count: int) -> None:
    """Print the ids of the first ``count`` notifications, as a subscription yields them."""
    bank = BankAccounts()
    seen: list[int] = []
    try:
        with bank.recorder.subscribe(gt=None) as subscription:
            print("following", flush=True)
            for notification in subscription:
                seen.append(notification.id)
                if len(seen) >= count:
                    break
    finally:
        bank.close()
    print("\n".join(map(str, seen)))


if __name__ == "__main__":
    if sys.argv[1] == "credit":
        credit(UUID(sys.argv[2]), int(sys.argv[3]))
    else:
        follow(int(sys.argv[2]))
