"""The domain layer: specs, aggregates, immutable values and the error tree."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from pydantic import ValidationError

import forze.domain.errors as errors_module
from forze.domain import (
    Aggregate,
    AggregateSpec,
    Command,
    DomainError,
    DomainEvent,
    EventType,
    Upcaster,
    ValueObject,
)
from forze.domain.errors import (
    ConcurrencyError,
    DuplicateEventIdError,
    ForzeError,
    InvalidInputError,
    SerializationError,
    WiringError,
)
from forze.testing import given


class Deposited(DomainEvent):
    """Money came in."""

    amount: int


class Withdrawn(DomainEvent):
    """Money went out."""

    amount: int


class Renamed(DomainEvent):
    """Not declared by the account spec."""

    name: str


AccountEvent = Deposited | Withdrawn


class Account(Aggregate[AccountEvent]):
    """A bank account: the balance is the fold of deposits and withdrawals."""

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.balance = 0
        self.applied: list[AccountEvent] = []

    def deposit(self, amount: int) -> None:
        if amount <= 0:
            raise DomainError("a deposit must be positive")
        self.emit(Deposited(amount=amount))

    def withdraw(self, amount: int) -> None:
        if amount > self.balance:
            raise DomainError("insufficient funds")
        self.emit(Withdrawn(amount=amount))

    def apply(self, event: AccountEvent) -> None:
        self.applied.append(event)
        match event:
            case Deposited(amount=amount):
                self.balance += amount
            case Withdrawn(amount=amount):
                self.balance -= amount


class Money(ValueObject):
    """An amount in a currency."""

    amount: int
    currency: str


class OpenAccount(Command):
    """Open an account."""

    account_id: str


DEPOSITED = EventType("account.deposited", Deposited)
WITHDRAWN = EventType("account.withdrawn", Withdrawn, schema_version=2)


def account_spec(
    name: str = "account", events: tuple[EventType[Any], ...] = (DEPOSITED, WITHDRAWN)
) -> AggregateSpec[Account]:
    """The account spec, or a variant of it."""
    return AggregateSpec(name, Account, events)


# --- AggregateSpec ---------------------------------------------------------------------------


def test_a_valid_spec_keeps_its_name_factory_and_event_types() -> None:
    upcaster = Upcaster("account.withdrawn", 1, lambda data: {**data, "amount": 0})
    spec = AggregateSpec("account", Account, (DEPOSITED, WITHDRAWN), upcasters=(upcaster,))

    assert spec.name == "account"
    assert spec.events == (DEPOSITED, WITHDRAWN)
    assert spec.upcasters == (upcaster,)
    assert isinstance(spec.factory("1"), Account)


@pytest.mark.parametrize("name", ["", "bank-account", "-", "account-"])
def test_a_spec_name_that_is_empty_or_contains_a_dash_is_rejected(name: str) -> None:
    with pytest.raises(InvalidInputError, match="name"):
        account_spec(name)


def test_a_spec_declaring_one_event_type_name_twice_is_rejected() -> None:
    clash = EventType("account.deposited", Withdrawn)

    with pytest.raises(InvalidInputError, match=r"account\.deposited"):
        account_spec(events=(DEPOSITED, clash))


def test_a_spec_declaring_one_event_class_twice_is_rejected() -> None:
    again = EventType("account.deposited.v2", Deposited)

    with pytest.raises(InvalidInputError, match="twice"):
        account_spec(events=(DEPOSITED, again))


@pytest.mark.parametrize("every", [0, -5])
def test_a_spec_snapshotting_every_fewer_than_one_event_is_rejected(every: int) -> None:
    with pytest.raises(InvalidInputError, match="snapshot_every"):
        AggregateSpec("account", Account, (DEPOSITED,), snapshot_every=every)


def test_the_stream_id_of_an_aggregate_is_the_spec_name_dash_its_id() -> None:
    spec = account_spec()

    assert spec.stream_id("42") == "account-42"
    assert spec.stream_id("a-b") == "account-a-b"


def test_an_empty_aggregate_id_has_no_stream_id() -> None:
    with pytest.raises(InvalidInputError, match="aggregate id"):
        account_spec().stream_id("")


def test_the_event_type_of_a_declared_event_is_found_by_its_class() -> None:
    spec = account_spec()

    assert spec.event_type_of(Deposited(amount=1)) is DEPOSITED
    assert spec.event_type_of(Withdrawn(amount=1)) is WITHDRAWN
    assert spec.event_type_of(Withdrawn(amount=1)).schema_version == 2


def test_the_event_type_of_an_undeclared_event_class_is_an_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="Renamed"):
        account_spec().event_type_of(Renamed(name="x"))


def test_specs_are_immutable() -> None:
    spec = account_spec()
    attribute = "name"

    with pytest.raises(AttributeError):
        setattr(spec, attribute, "other")


# --- EventType -------------------------------------------------------------------------------


def test_an_event_type_defaults_to_schema_version_one() -> None:
    assert EventType("account.deposited", Deposited).schema_version == 1


@pytest.mark.parametrize("version", [0, -1])
def test_an_event_type_schema_version_below_one_is_rejected(version: int) -> None:
    with pytest.raises(InvalidInputError, match="schema_version"):
        EventType("account.deposited", Deposited, schema_version=version)


def test_an_event_type_with_an_empty_name_is_rejected() -> None:
    with pytest.raises(InvalidInputError):
        EventType("", Deposited)


# --- Aggregate -------------------------------------------------------------------------------


def test_a_new_aggregate_has_its_id_version_zero_and_no_pending_events() -> None:
    account = Account("42")

    assert account.id == "42"
    assert account.version == 0
    assert account.pending_events == ()


def test_emit_applies_the_event_and_records_it_as_pending() -> None:
    account = Account("42")

    account.deposit(10)
    account.withdraw(3)

    assert account.balance == 7
    assert account.pending_events == (Deposited(amount=10), Withdrawn(amount=3))
    assert account.version == 0


def test_a_refused_command_neither_changes_state_nor_records_an_event() -> None:
    account = Account("42")

    with pytest.raises(DomainError):
        account.withdraw(1)

    assert account.balance == 0
    assert account.pending_events == ()


def test_pending_events_cannot_be_changed_from_outside() -> None:
    account = Account("42")
    account.deposit(10)

    pending = account.pending_events
    assert isinstance(pending, tuple)
    account.deposit(5)

    assert pending == (Deposited(amount=10),)
    assert len(account.pending_events) == 2


def test_mark_saved_clears_pending_events_and_sets_the_version() -> None:
    account = Account("42")
    account.deposit(10)
    account.deposit(5)

    account.mark_saved(2)

    assert account.pending_events == ()
    assert account.version == 2
    assert account.balance == 15


def test_replay_applies_stored_events_without_recording_them_as_pending() -> None:
    account = Account("42")

    account.replay([Deposited(amount=10), Withdrawn(amount=4)], version=2)

    assert account.balance == 6
    assert account.applied == [Deposited(amount=10), Withdrawn(amount=4)]
    assert account.pending_events == ()
    assert account.version == 2


def test_events_emitted_after_replay_are_pending_on_top_of_the_stored_version() -> None:
    account = Account("42")
    account.replay([Deposited(amount=10)], version=1)

    account.withdraw(4)

    assert account.balance == 6
    assert account.version == 1
    assert account.pending_events == (Withdrawn(amount=4),)


def test_an_aggregate_declared_by_a_spec_emits_the_event_classes_the_spec_declares() -> None:
    account = account_spec().new("42")

    account.deposit(10)
    account.withdraw(3)

    assert account.pending_events == (Deposited(amount=10), Withdrawn(amount=3))


def test_emitting_an_event_class_the_spec_does_not_declare_is_a_wiring_error() -> None:
    account = account_spec(events=(DEPOSITED,)).new("42")

    with pytest.raises(WiringError) as refused:
        account.emit(Withdrawn(amount=1))

    assert str(refused.value) == (
        "Account emitted Withdrawn, an event class that AggregateSpec 'account' does not"
        " declare: add EventType('<stored name>', Withdrawn) to the spec's events"
    )
    assert account.applied == []
    assert account.pending_events == ()


def test_a_given_aggregate_refuses_to_emit_an_event_class_the_spec_does_not_declare() -> None:
    given(account_spec(events=(DEPOSITED,)), Deposited(amount=5)).when(
        lambda account: account.withdraw(1)
    ).then_raises(WiringError, match="Account emitted Withdrawn")


def test_an_aggregate_does_not_take_snapshots_by_default() -> None:
    assert Account("42").snapshot_state() is None


def test_restoring_a_snapshot_is_a_serialization_error_by_default() -> None:
    with pytest.raises(SerializationError, match="Account"):
        Account("42").restore_snapshot({"balance": 5})


def test_an_aggregate_subclass_must_define_apply() -> None:
    class NoApply(Aggregate[Deposited]):
        """Forgot its apply handler."""

    assert inspect.isabstract(NoApply)
    assert NoApply.__abstractmethods__ == frozenset({"apply"})


# --- DomainEvent, Command, ValueObject ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "field_name"),
    [
        (Deposited(amount=1), "amount"),
        (OpenAccount(account_id="1"), "account_id"),
        (Money(amount=1, currency="EUR"), "currency"),
    ],
    ids=["event", "command", "value"],
)
def test_events_commands_and_value_objects_are_frozen(value: Any, field_name: str) -> None:
    before = value.model_dump()

    with pytest.raises(ValidationError):
        setattr(value, field_name, "changed")

    assert value.model_dump() == before


@pytest.mark.parametrize(
    ("cls", "data", "error"),
    [
        (Deposited, {"amount": 1}, ValidationError),
        (OpenAccount, {"account_id": "1"}, InvalidInputError),
        (Money, {"amount": 1, "currency": "EUR"}, ValidationError),
    ],
    ids=["event", "command", "value"],
)
def test_events_commands_and_value_objects_forbid_extra_fields(
    cls: type[DomainEvent | Command | ValueObject],
    data: dict[str, Any],
    error: type[Exception],
) -> None:
    assert cls.model_validate(data).model_dump() == data

    with pytest.raises(error, match=r"(?s)unexpected.*Extra inputs are not permitted"):
        cls.model_validate({**data, "unexpected": True})


def test_value_objects_are_equal_by_their_fields() -> None:
    assert Money(amount=1, currency="EUR") == Money(amount=1, currency="EUR")
    assert Money(amount=1, currency="EUR") != Money(amount=1, currency="USD")
    assert hash(Money(amount=1, currency="EUR")) == hash(Money(amount=1, currency="EUR"))


@pytest.mark.parametrize("base", [DomainEvent, Command, ValueObject])
def test_the_bases_are_frozen_and_forbid_extra_fields(base: type[Any]) -> None:
    assert base.model_config.get("frozen") is True
    assert base.model_config.get("extra") == "forbid"


# --- errors ----------------------------------------------------------------------------------

ERROR_CLASSES: list[type[BaseException]] = [
    getattr(errors_module, name) for name in errors_module.__all__
]


@pytest.mark.parametrize("error_class", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_class_derives_from_forze_error(error_class: type[BaseException]) -> None:
    assert issubclass(error_class, ForzeError)


def test_the_error_module_exports_every_error_class_it_defines() -> None:
    defined = {
        name
        for name, obj in vars(errors_module).items()
        if inspect.isclass(obj) and obj.__module__ == errors_module.__name__
    }
    assert defined == set(errors_module.__all__)


def test_an_invalid_input_error_is_also_a_value_error() -> None:
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(DuplicateEventIdError, ValueError)
    with pytest.raises(ValueError, match="bad"):
        raise InvalidInputError("bad")


def test_a_concurrency_error_names_the_stream_the_expected_and_the_actual_version() -> None:
    error = ConcurrencyError("account-42", 3, 5)

    assert "account-42" in str(error)
    assert "expected version 3" in str(error)
    assert "actual version 5" in str(error)
    assert (error.stream_id, error.expected, error.actual) == ("account-42", 3, 5)


def test_a_duplicate_event_id_error_names_where_the_id_is_stored() -> None:
    error = DuplicateEventIdError("abc", "account-1", 4)

    assert "abc" in str(error)
    assert "account-1" in str(error)
    assert "4" in str(error)
