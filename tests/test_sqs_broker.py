"""The SQS adapters against a moto server (``FORZE_TEST_SQS_ENDPOINT``): the broker contract on
standard and FIFO queues, plus crashes, slow handlers, lost endpoints and big batches."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any
from uuid import uuid4

import pytest
from aiobotocore.session import get_session

from forze.contracts import Message
from forze.domain.errors import BrokerUnavailable, MessageRefused
from forze.testing.contracts import BrokerContract, BrokerUnderTest
from forze.testing.contracts.broker import message, receive_all
from forze_projections.testing import ConsumerContract, RelayContract
from forze_sqs import (
    SqsDelivery,
    SqsPublisher,
    SqsSettings,
    SqsSubscriber,
    SqsSubscription,
    dead_letter_queue_of,
    declare_queue,
    peek_dead_letters,
)

ENDPOINT = os.environ.get("FORZE_TEST_SQS_ENDPOINT", "http://127.0.0.1:5055")
SETTINGS = SqsSettings(endpoint_url=ENDPOINT, access_key_id="test", secret_access_key="test")
LIMIT = 256 * 1024
UNREACHABLE = "http://no-such-host.invalid:4566"
REASON_ATTRIBUTE = "forze_dead_letter_reason"
"""The message attribute in which a dead letter's reason travels."""


async def new_queue(*, fifo: bool, visibility_timeout: int = 30) -> str:
    """A fresh queue (with its dead-letter queue) of a unique name."""
    name = f"forze-{uuid4().hex[:16]}" + (".fifo" if fifo else "")
    await declare_queue(
        SETTINGS, name, visibility_timeout=visibility_timeout, maximum_message_size=LIMIT
    )
    return name


def raw_client() -> AbstractAsyncContextManager[Any]:
    """A plain aiobotocore SQS client of the test server (to look at what is on the wire)."""
    return get_session().create_client(  # type: ignore[no-any-return]
        "sqs",
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


class _SqsContract(BrokerContract):
    fifo = False

    @asynccontextmanager
    async def open_broker(self) -> AsyncIterator[BrokerUnderTest]:
        queue = await new_queue(fifo=self.fifo)
        publisher = SqsPublisher(SETTINGS)
        subscribers: list[SqsSubscriber] = []

        def subscribe() -> SqsSubscriber:
            subscribers.append(SqsSubscriber(SETTINGS, SqsSubscription(queue)))
            return subscribers[-1]

        async def dead_letters() -> list[tuple[Message, str]]:
            return await peek_dead_letters(SETTINGS, dead_letter_queue_of(queue))

        try:
            yield BrokerUnderTest(
                publisher,
                queue,
                subscribe,
                dead_letters,
                ordered=self.fifo,
                max_message_bytes=LIMIT,
            )
        finally:
            for subscriber in subscribers:
                await subscriber.close()
            await publisher.close()


class TestSqsStandard(_SqsContract):
    """Standard queues: at-least-once, no order kept."""

    fifo = False


class TestSqsFifo(_SqsContract):
    """FIFO queues: ordered per message group (the ordering key)."""

    fifo = True


class TestSqsStandardRelay(RelayContract):
    """The relay contract on a standard queue (no order kept)."""

    fifo = False
    open_broker = TestSqsStandard.open_broker


class TestSqsFifoRelay(RelayContract):
    """The relay contract on a FIFO queue, which drops a message id it accepted within five
    minutes (the deduplication id is the event id)."""

    fifo = deduplicates = True
    open_broker = TestSqsFifo.open_broker


class _SqsConsumerContract(ConsumerContract):
    """Undecodable messages are sent and dead letters read with a plain client: the
    adapter's ``peek_dead_letters`` leaves out the ones that carry no valid envelope."""

    async def send_malformed(self, broker: BrokerUnderTest) -> None:
        fifo: dict[str, str] = {}
        if broker.destination.endswith(".fifo"):
            fifo = {"MessageGroupId": "order-1", "MessageDeduplicationId": uuid4().hex}
        async with raw_client() as client:
            url = (await client.get_queue_url(QueueName=broker.destination))["QueueUrl"]
            attributes = {"ce_id": {"DataType": "String", "StringValue": "no-specversion"}}
            await client.send_message(
                QueueUrl=url, MessageBody="{}", MessageAttributes=attributes, **fifo
            )

    async def dead_letter_reasons(self, broker: BrokerUnderTest) -> list[str]:
        """Every dead letter, hidden while read and made visible again (moto hides a FIFO
        message received with a visibility timeout of 0 from the next receives)."""
        reasons: list[str] = []
        receipts: list[str] = []
        async with raw_client() as client:
            queue = dead_letter_queue_of(broker.destination)
            url = (await client.get_queue_url(QueueName=queue))["QueueUrl"]
            while got := (
                await client.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    MessageAttributeNames=["All"],
                    VisibilityTimeout=30,
                )
            ).get("Messages"):
                for raw in got:
                    reason = (raw.get("MessageAttributes") or {}).get(REASON_ATTRIBUTE) or {}
                    reasons.append(str(reason.get("StringValue", "redrive policy")))
                    receipts.append(raw["ReceiptHandle"])
            for receipt in receipts:
                await client.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0
                )
        return reasons


class TestSqsStandardConsumerContract(_SqsConsumerContract):
    """The consumer contract on a standard queue (no order kept)."""

    fifo = False
    open_broker = TestSqsStandard.open_broker


class TestSqsFifoConsumerContract(_SqsConsumerContract):
    """The consumer contract on a FIFO queue: a retried message holds back its group."""

    fifo = True
    open_broker = TestSqsFifo.open_broker


_WORKER = """
import asyncio, sys
from forze_sqs import SqsSettings, SqsSubscriber, SqsSubscription

async def main() -> None:
    settings = SqsSettings(endpoint_url=sys.argv[1], access_key_id="test", secret_access_key="test")
    subscriber = SqsSubscriber(settings, SqsSubscription(sys.argv[2], visibility_timeout=2))
    while not await subscriber.receive(max_messages=1, wait_seconds=1):
        pass
    print("received", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_a_message_of_a_killed_consumer_process_comes_back_after_the_visibility_timeout() -> (
    None
):
    queue = await new_queue(fifo=True, visibility_timeout=2)
    publisher = SqsPublisher(SETTINGS)
    await publisher.publish([message(1, destination=queue)])
    await publisher.close()
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _WORKER, ENDPOINT, queue, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert worker.stdout is not None
        line = await asyncio.wait_for(worker.stdout.readline(), 30)
        assert line.strip() == b"received"
    finally:
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
    subscriber = SqsSubscriber(SETTINGS, SqsSubscription(queue))
    try:
        started = time.monotonic()
        (again,) = await receive_all(subscriber, 1)
    finally:
        await subscriber.close()
    assert again.attempt == 2
    assert time.monotonic() - started < 10


async def test_a_slow_handlers_message_stays_hidden_while_its_visibility_is_extended() -> None:
    queue = await new_queue(fifo=False, visibility_timeout=2)
    publisher = SqsPublisher(SETTINGS)
    await publisher.publish([message(1, destination=queue)])
    await publisher.close()
    slow = SqsSubscriber(SETTINGS, SqsSubscription(queue, visibility_timeout=2))
    other = SqsSubscriber(SETTINGS, SqsSubscription(queue, visibility_timeout=2))
    try:
        (held,) = await receive_all(slow, 1, ack=False)
        seen: list[str] = []
        deadline = time.monotonic() + 6  # three visibility timeouts
        while time.monotonic() < deadline:
            seen += [d.message.id for d in await other.receive(wait_seconds=1)]
        await held.ack()
    finally:
        await slow.close()
        await other.close()
    assert seen == []


async def test_publishing_to_an_unreachable_endpoint_is_broker_unavailable_within_seconds() -> None:
    publisher = SqsPublisher(replace(SETTINGS, endpoint_url=UNREACHABLE))
    started = time.monotonic()
    try:
        with pytest.raises(BrokerUnavailable):
            await publisher.publish([message(1, destination="orders")])
    finally:
        await publisher.close()
    assert time.monotonic() - started < 10


async def test_receiving_from_an_unreachable_endpoint_is_broker_unavailable_within_seconds() -> (
    None
):
    subscriber = SqsSubscriber(replace(SETTINGS, endpoint_url=UNREACHABLE), SqsSubscription("q"))
    started = time.monotonic()
    try:
        with pytest.raises(BrokerUnavailable):
            await subscriber.receive(wait_seconds=1)
    finally:
        await subscriber.close()
    assert time.monotonic() - started < 10


async def test_more_than_ten_messages_go_in_several_batches_in_order() -> None:
    queue = await new_queue(fifo=True)
    publisher = SqsPublisher(SETTINGS)
    sent = [message(n, destination=queue) for n in range(25)]
    try:
        await publisher.publish(sent)
    finally:
        await publisher.close()
    subscriber = SqsSubscriber(SETTINGS, SqsSubscription(queue))
    try:
        got = await receive_all(subscriber, 25)
    finally:
        await subscriber.close()
    assert [d.message.id for d in got] == [m.id for m in sent]


async def test_an_envelope_of_more_than_nine_attributes_travels_as_one_json_attribute() -> None:
    queue = await new_queue(fifo=False)
    extensions = {f"ext{n}": f"value {n}" for n in range(7)}
    sent = replace(message(1, destination=queue), extensions=extensions)
    publisher = SqsPublisher(SETTINGS)
    try:
        await publisher.publish([sent])
    finally:
        await publisher.close()
    async with raw_client() as client:
        url = (await client.get_queue_url(QueueName=queue))["QueueUrl"]
        found = await client.receive_message(
            QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=1, VisibilityTimeout=0
        )
    assert list(found["Messages"][0]["MessageAttributes"]) == ["ce_envelope"]
    subscriber = SqsSubscriber(SETTINGS, SqsSubscription(queue))
    try:
        (got,) = await receive_all(subscriber, 1)
    finally:
        await subscriber.close()
    assert dict(got.message.extensions) == extensions


async def test_an_empty_attribute_value_survives_though_sqs_refuses_empty_values() -> None:
    queue = await new_queue(fifo=False)
    sent = replace(message(1, destination=queue), extensions={"tenant": ""})
    publisher = SqsPublisher(SETTINGS)
    try:
        await publisher.publish([sent])
    finally:
        await publisher.close()
    async with raw_client() as client:
        url = (await client.get_queue_url(QueueName=queue))["QueueUrl"]
        found = await client.receive_message(
            QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=1, VisibilityTimeout=0
        )
    on_the_wire = found["Messages"][0]["MessageAttributes"].values()
    assert all(value["StringValue"] for value in on_the_wire)
    subscriber = SqsSubscriber(SETTINGS, SqsSubscription(queue))
    try:
        (got,) = await receive_all(subscriber, 1)
    finally:
        await subscriber.close()
    assert dict(got.message.extensions) == {"tenant": ""}


async def test_data_that_is_not_utf8_is_refused_after_the_messages_before_it() -> None:
    queue = await new_queue(fifo=False)
    fits = message(1, destination=queue)
    binary = replace(message(2, destination=queue), data=b"\xff\xfe")
    publisher = SqsPublisher(SETTINGS)
    try:
        with pytest.raises(MessageRefused) as refused:
            await publisher.publish([fits, binary, message(3, destination=queue)])
    finally:
        await publisher.close()
    assert refused.value.message_id == binary.id
    subscriber = SqsSubscriber(SETTINGS, SqsSubscription(queue))
    try:
        got = await receive_all(subscriber, 1)
        assert list(await subscriber.receive(wait_seconds=1)) == []
    finally:
        await subscriber.close()
    assert [d.message.id for d in got] == [fits.id]


async def test_a_message_without_an_envelope_is_dead_lettered_with_the_reason() -> None:
    queue = await new_queue(fifo=False)
    async with raw_client() as client:
        url = (await client.get_queue_url(QueueName=queue))["QueueUrl"]
        await client.send_message(QueueUrl=url, MessageBody='{"n":1}')
        subscriber = SqsSubscriber(SETTINGS, SqsSubscription(queue))
        try:
            assert list(await subscriber.receive(wait_seconds=1)) == []
            assert list(await subscriber.receive(wait_seconds=1)) == []
        finally:
            await subscriber.close()
        dead_url = (await client.get_queue_url(QueueName=dead_letter_queue_of(queue)))["QueueUrl"]
        found = await client.receive_message(
            QueueUrl=dead_url, MessageAttributeNames=["All"], WaitTimeSeconds=1
        )
    (dead,) = found["Messages"]
    assert dead["Body"] == '{"n":1}'
    reason = dead["MessageAttributes"]["forze_dead_letter_reason"]["StringValue"]
    assert "missing CloudEvents attribute" in reason or "specversion" in reason


async def test_a_retried_fifo_message_still_comes_before_the_later_ones_of_its_group() -> None:
    queue = await new_queue(fifo=True)
    sent = [message(n, destination=queue) for n in range(3)]
    publisher = SqsPublisher(SETTINGS)
    try:
        await publisher.publish(sent)
    finally:
        await publisher.close()
    subscriber = SqsSubscriber(SETTINGS, SqsSubscription(queue))
    try:
        (first,) = await subscriber.receive(max_messages=10, wait_seconds=2)
        await first.retry(1.0)
        got = await receive_all(subscriber, 3)
    finally:
        await subscriber.close()
    assert (got[0].message.id, got[0].attempt) == (sent[0].id, 2)
    assert [d.message.id for d in got] == [m.id for m in sent]


async def test_a_message_never_settled_is_moved_by_the_redrive_policy() -> None:
    queue = f"forze-{uuid4().hex[:16]}"
    await declare_queue(SETTINGS, queue, max_receive_count=2)
    publisher = SqsPublisher(SETTINGS)
    try:
        await publisher.publish([sent := message(1, destination=queue)])
    finally:
        await publisher.close()
    for _ in range(2):
        careless = SqsSubscriber(SETTINGS, SqsSubscription(queue))
        await receive_all(careless, 1, ack=False)
        await careless.close()  # gives it back unsettled
    last = SqsSubscriber(SETTINGS, SqsSubscription(queue))
    try:
        assert list(await last.receive(wait_seconds=1)) == []
    finally:
        await last.close()
    dead = await peek_dead_letters(SETTINGS, dead_letter_queue_of(queue))
    assert [(m.id, reason) for m, reason in dead] == [(sent.id, "redrive policy")]


async def test_acks_settled_together_are_deleted_in_batches_of_up_to_ten() -> None:
    queue = await new_queue(fifo=False)
    publisher = SqsPublisher(SETTINGS)
    try:
        await publisher.publish([message(n, key=f"k{n}", destination=queue) for n in range(25)])
    finally:
        await publisher.close()
    subscriber = SqsSubscriber(SETTINGS, SqsSubscription(queue, extend_visibility=False))
    calls: list[tuple[str, int]] = []
    call = subscriber._connection.call  # counting the calls on the wire

    async def counted(operation: str, **params: Any) -> dict[str, Any]:
        calls.append((operation, len(params.get("Entries", ()))))
        return await call(operation, **params)

    subscriber._connection.call = counted  # type: ignore[method-assign]
    try:
        got = await receive_all(subscriber, 25, ack=False)
        await asyncio.gather(*(delivery.ack() for delivery in got))
    finally:
        await subscriber.close()
    deletes = [entries for operation, entries in calls if operation.startswith("delete")]
    assert sum(deletes) == 25
    assert len(deletes) <= 4
    assert max(deletes) <= 10
    async with raw_client() as client:
        url = (await client.get_queue_url(QueueName=queue))["QueueUrl"]
        found = await client.receive_message(QueueUrl=url, WaitTimeSeconds=0, VisibilityTimeout=0)
    assert found.get("Messages", []) == []


async def test_an_ack_sqs_rejects_fails_alone_and_the_others_of_its_batch_are_deleted() -> None:
    queue = await new_queue(fifo=False)
    publisher = SqsPublisher(SETTINGS)
    try:
        await publisher.publish([message(n, key=f"k{n}", destination=queue) for n in range(3)])
    finally:
        await publisher.close()
    subscriber = SqsSubscriber(SETTINGS, SqsSubscription(queue, extend_visibility=False))
    try:
        got = await receive_all(subscriber, 3, ack=False)
        assert isinstance(got[1], SqsDelivery)
        got[1].receipt = "not-a-receipt-handle"
        outcomes = await asyncio.gather(*(d.ack() for d in got), return_exceptions=True)
    finally:
        await subscriber.close()
    assert [type(outcome).__name__ for outcome in outcomes] == [
        "NoneType",
        "BrokerUnavailable",
        "NoneType",
    ]
