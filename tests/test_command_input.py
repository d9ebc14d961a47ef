"""Commands and usecase payloads are input: what fails validation is an InvalidInputError."""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Annotated, Any, Protocol, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError, field_validator, model_validator

from forze import (
    Command,
    ExecutionContext,
    InvalidInputError,
    Usecase,
    ValueObject,
    WiringError,
    build_runtime,
)
from forze_examples.bank import DEPOSIT, OPEN_ACCOUNT, Deposit, OpenAccount, Withdraw
from forze_mock import MockDepsModule

if TYPE_CHECKING:
    from decimal import Decimal  # seen by type checkers only: the handler below returns one


class Money(ValueObject):
    """An amount of cents that must not be negative."""

    cents: int

    @field_validator("cents")
    @classmethod
    def _not_negative(cls, cents: int) -> int:
        if cents < 0:
            raise ValueError("must not be negative")
        return cents


class Line(ValueObject):
    """One line of an order."""

    sku: str
    quantity: int = 1


class PlaceOrder(Command):
    """A command with nested values, a list and a rule across fields."""

    order_id: str
    total: Money
    lines: tuple[Line, ...] = ()

    @model_validator(mode="after")
    def _reserved(self) -> PlaceOrder:
        if self.order_id == "0":
            raise ValueError("order id 0 is reserved")
        return self


class Resend(Command):
    """A command holding another command."""

    original: PlaceOrder


GOOD: dict[str, Any] = {"order_id": "o-1", "total": {"cents": 5}, "lines": [{"sku": "A-1"}]}


def _refusal(make: Any) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as refused:
        make()
    return refused.value


# --- a command that fails validation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({**GOOD, "order_id": 7}, ["field 'order_id': Input should be a valid string"]),
        ({**GOOD, "total": {"cents": -1}}, ["field 'total.cents': Value error, must not be"]),
        ({**GOOD, "lines": [{"sku": "A"}, {"sku": 3}]}, ["field 'lines[1].sku'"]),
        ({"order_id": "o-1"}, ["field 'total': Field required"]),
        ({**GOOD, "colour": "red"}, ["field 'colour': Extra inputs are not permitted"]),
        ({**GOOD, "order_id": "0"}, ["invalid PlaceOrder: Value error, order id 0 is reserved"]),
        ({"total": {"cents": "x"}}, ["field 'order_id'", "field 'total.cents'"]),
    ],
    ids=["type", "nested-rule", "list-item", "missing", "extra", "model-rule", "two-fields"],
)
@pytest.mark.parametrize("how", ["constructor", "model_validate", "model_validate_json"])
def test_a_command_with_a_bad_field_raises_invalid_input_naming_it(
    data: dict[str, Any], named: list[str], how: str
) -> None:
    makers = {
        "constructor": lambda: PlaceOrder(**data),
        "model_validate": lambda: PlaceOrder.model_validate(data),
        "model_validate_json": lambda: PlaceOrder.model_validate_json(json.dumps(data)),
    }
    refused = _refusal(makers[how])
    message = str(refused)
    assert message.startswith("invalid PlaceOrder: ")
    for part in named:
        assert part in message
    assert "\n" not in message
    assert isinstance(refused.__cause__, ValidationError)
    assert not isinstance(refused, ValidationError)


def test_a_command_refusal_leaves_out_the_values_given() -> None:
    message = str(_refusal(lambda: PlaceOrder(order_id=12345678, total={"cents": "secret"})))
    assert "12345678" not in message
    assert "secret" not in message


def test_a_command_read_from_broken_json_or_strings_raises_invalid_input() -> None:
    assert "Invalid JSON" in str(_refusal(lambda: PlaceOrder.model_validate_json("{")))
    strings = {"order_id": "o-1", "total": {"cents": "many"}}
    assert "field 'total.cents'" in str(
        _refusal(lambda: PlaceOrder.model_validate_strings(strings))
    )
    assert "valid dictionary" in str(_refusal(lambda: PlaceOrder.model_validate(["o-1"])))


def test_a_command_inside_a_command_is_named_by_its_place() -> None:
    message = str(_refusal(lambda: Resend(original={**GOOD, "total": {"cents": -1}})))
    assert message.startswith("invalid Resend: field 'original': invalid PlaceOrder: ")
    assert "field 'total.cents'" in message


def test_a_valid_command_is_made_and_validated_as_before() -> None:
    made = PlaceOrder(**GOOD)
    assert PlaceOrder.model_validate(GOOD) == made
    assert PlaceOrder.model_validate_json(json.dumps(GOOD)) == made
    assert PlaceOrder.model_validate(made) is made
    assert Resend(original=made).original == made


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    data=st.fixed_dictionaries(
        {},
        optional={
            "order_id": _JSON,
            "total": _JSON | st.fixed_dictionaries({"cents": _JSON}),
            "lines": _JSON | st.lists(st.fixed_dictionaries({"sku": _JSON}), max_size=2),
            "other": _JSON,
        },
    )
)
def test_any_input_makes_a_command_or_an_invalid_input_error_naming_every_bad_field(
    data: dict[str, Any],
) -> None:
    refusal: InvalidInputError | None = None
    try:
        expected = PlaceOrder.model_validate(data)
    except InvalidInputError as refused:
        refusal = refused
    if refusal is None:
        assert PlaceOrder(**data) == expected
        assert PlaceOrder.model_validate_json(json.dumps(data)) == expected
        return
    problems = refusal.__cause__
    assert isinstance(problems, ValidationError)
    for problem in problems.errors():
        if problem["loc"]:
            assert f"field '{problem['loc'][0]}" in str(refusal)
    with pytest.raises(InvalidInputError):
        PlaceOrder(**data)
    with pytest.raises(InvalidInputError):
        PlaceOrder.model_validate_json(json.dumps(data))


# --- execute with a payload of the wrong type ------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        Withdraw(account_id="a1", amount=5),
        {"account_id": "a1", "amount": 5},
        None,
        "a1",
    ],
    ids=["another-command", "dict", "none", "str"],
)
async def test_execute_with_a_payload_of_the_wrong_type_raises_invalid_input_and_writes_nothing(
    payload: Any,
) -> None:
    mock = MockDepsModule()
    async with build_runtime(mock, usecases=[OPEN_ACCOUNT, DEPOSIT]) as runtime:
        await runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="a1", owner="ann"))
        head = await mock.events.head_position()
        with pytest.raises(InvalidInputError) as refused:
            await runtime.execute(DEPOSIT, payload)
        assert str(refused.value) == (
            f"usecase 'deposit' takes a payload of type Deposit, got {type(payload).__qualname__}"
        )
        assert await mock.events.head_position() == head
        assert await runtime.execute(DEPOSIT, Deposit(account_id="a1", amount=5)) == 5


async def test_a_payload_is_refused_before_any_middleware_runs() -> None:
    seen: list[object] = []

    async def spy(ctx: ExecutionContext, payload: Any, call_next: Any) -> Any:
        seen.append(payload)
        return await call_next(ctx, payload)

    async with build_runtime(MockDepsModule(), middleware=[spy]) as runtime:
        with pytest.raises(InvalidInputError):
            await runtime.execute(DEPOSIT, "a1")  # type: ignore[misc]
    assert seen == []


class Named(Protocol):
    """Not runtime-checkable: a payload of this type cannot be checked with isinstance."""

    name: str


async def _optional(ctx: ExecutionContext, payload: str | None) -> str:
    return f"got {payload}"


async def _annotated(ctx: ExecutionContext, payload: Annotated[int, "cents"]) -> int:
    return payload


async def _mapping(ctx: ExecutionContext, payload: dict[str, int]) -> int:
    return len(payload)


async def _anything(ctx: ExecutionContext, payload: Any) -> object:
    return payload


async def _protocol(ctx: ExecutionContext, payload: Named) -> object:
    return payload


async def _unannotated(ctx, payload):  # type: ignore[no-untyped-def]
    return payload


class Handlers:
    """Handlers as a method and behind a decorator."""

    async def method(self, ctx: ExecutionContext, payload: Deposit) -> int:
        return payload.amount


def _logged(handler: Any) -> Any:
    @functools.wraps(handler)
    async def wrapper(ctx: ExecutionContext, payload: Any) -> Any:
        return await handler(ctx, payload)

    return wrapper


@pytest.mark.parametrize(
    ("handler", "accepted", "refused"),
    [
        (_optional, ["a", None], [1, b"a"]),
        (_annotated, [1], ["1", 1.0]),
        (_mapping, [{"a": 1}], [[("a", 1)]]),
        (_anything, [1, None, "x"], []),
        (_protocol, [1, None], []),
        (_unannotated, [1, None], []),
        (Handlers().method, [Deposit(account_id="a", amount=1)], [{"amount": 1}]),
        (_logged(Handlers().method), [Deposit(account_id="a", amount=1)], [1]),
    ],
    ids=["optional", "annotated", "generic", "any", "protocol", "none", "method", "decorated"],
)
async def test_execute_accepts_exactly_what_the_handler_annotation_admits(
    handler: Any, accepted: list[object], refused: list[object]
) -> None:
    usecase: Usecase[Any, Any] = Usecase.command("op", handler)
    async with build_runtime(MockDepsModule()) as runtime:
        for payload in accepted:
            await runtime.execute(usecase, payload)
        for payload in refused:
            with pytest.raises(InvalidInputError, match="usecase 'op' takes a payload of type"):
                await runtime.execute(usecase, payload)


async def _typed_for_checkers_only(ctx: ExecutionContext, payload: Deposit) -> Decimal:
    return cast("Decimal", payload.amount)  # Decimal does not exist at run time here


async def test_other_annotations_of_a_handler_may_name_what_only_type_checkers_see() -> None:
    usecase: Usecase[Deposit, Decimal] = Usecase.command("typed", _typed_for_checkers_only)
    async with build_runtime(MockDepsModule(), usecases=[usecase]) as runtime:
        assert await runtime.execute(usecase, Deposit(account_id="a", amount=2)) == 2
        with pytest.raises(InvalidInputError, match="takes a payload of type Deposit"):
            await runtime.execute(usecase, 2)  # type: ignore[misc]


def test_a_payload_annotation_the_handler_module_cannot_see_fails_when_the_runtime_is_built() -> (
    None
):
    class Local(Command):
        """Defined where the handler's module cannot see it."""

    async def handler(ctx: ExecutionContext, payload: Local) -> None:
        return None

    usecase: Usecase[Local, None] = Usecase.command("local", handler)
    with pytest.raises(WiringError, match=r"usecase 'local': the payload annotation .*'Local'"):
        build_runtime(MockDepsModule(), usecases=[usecase])
