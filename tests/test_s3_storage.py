"""``S3ObjectStorage`` against the moto server of the tests (``FORZE_TEST_S3_ENDPOINT``): the
object storage contract with and without a key prefix, multipart uploads, content types,
listing past one page, key checks and the runtime module. Failures: test_s3_faults.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from forze import OBJECTS, ExecutionContext, Usecase, build_runtime
from forze.contracts import ObjectStorage
from forze.domain.errors import InvalidInputError, NotFoundError, StorageUnavailable
from forze.testing.contracts import ObjectStorageContract
from forze_s3 import S3ObjectStorage, S3Settings, s3_module
from tests.s3_support import MIB, SETTINGS, raw_client, remove_bucket, scratch_bucket


class TestS3ObjectStorage(ObjectStorageContract):
    """The contract, each test on a bucket of its own."""

    prefix = ""

    @pytest.fixture(autouse=True)
    async def bucket(self) -> AsyncIterator[S3Settings]:
        """A fresh bucket; the storages made on it are closed, and it is removed, after."""
        self.opened: list[S3ObjectStorage] = []
        async with scratch_bucket(prefix=self.prefix) as settings:
            self.settings = settings
            try:
                yield settings
            finally:
                for storage in self.opened:
                    await storage.close()

    def make_storage(self) -> ObjectStorage:
        self.opened.append(S3ObjectStorage(self.settings))
        return self.opened[-1]

    async def test_the_content_type_and_size_are_stored_with_the_object(self) -> None:
        storage = S3ObjectStorage(self.settings)
        self.opened.append(storage)
        await storage.put("a.json", b"{}", content_type="application/json")
        await storage.put("b.bin", b"\x00\x01\x02")
        a, b = await storage.stat("a.json"), await storage.stat("b.bin")
        assert (a.key, a.size, a.content_type) == ("a.json", 2, "application/json")
        assert (b.size, b.content_type) == (3, "application/octet-stream")

    async def test_a_missing_object_is_not_found_for_get_and_stat_and_not_deleted(self) -> None:
        storage = S3ObjectStorage(self.settings)
        self.opened.append(storage)
        with pytest.raises(NotFoundError, match="'missing/key'"):
            await storage.get("missing/key")
        with pytest.raises(NotFoundError):
            await storage.stat("missing/key")
        assert await storage.delete("missing/key") is False


class TestS3ObjectStorageUnderAPrefix(TestS3ObjectStorage):
    """The contract again, with every key stored under a prefix."""

    prefix = "tenant-a/"

    async def test_objects_live_under_the_prefix_and_nothing_outside_it_is_seen(self) -> None:
        storage = S3ObjectStorage(self.settings)
        self.opened.append(storage)
        async with raw_client() as client:
            await client.put_object(Bucket=self.settings.bucket, Key="elsewhere", Body=b"x")
            await client.put_object(Bucket=self.settings.bucket, Key="tenant-b/k", Body=b"x")
            await storage.put("k", b"mine")
            raw = await client.list_objects_v2(Bucket=self.settings.bucket)
        assert sorted(o["Key"] for o in raw["Contents"]) == [
            "elsewhere",
            "tenant-a/k",
            "tenant-b/k",
        ]
        assert await storage.list() == ["k"]
        with pytest.raises(NotFoundError):
            await storage.get("elsewhere")


async def test_an_object_above_the_threshold_is_uploaded_in_parts_byte_for_byte() -> None:
    data = bytes(range(256)) * (12 * MIB // 256) + b"tail"  # 12 MiB and 4 bytes
    async with scratch_bucket(part_size=5 * MIB) as config, S3ObjectStorage(config) as storage:
        await storage.put("big.bin", data, content_type="application/x-archive")
        assert await storage.get("big.bin") == data
        info = await storage.stat("big.bin")
    assert info.etag.strip('"').endswith("-3")  # S3 marks a multipart object's ETag so
    assert (info.size, info.content_type) == (len(data), "application/x-archive")


async def test_an_object_of_exactly_the_threshold_is_one_put() -> None:
    data = b"\xff" * (5 * MIB)
    async with (
        scratch_bucket(part_size=5 * MIB, multipart_threshold=5 * MIB) as config,
        S3ObjectStorage(config) as storage,
    ):
        await storage.put("edge.bin", data)
        info = await storage.stat("edge.bin")
        assert await storage.get("edge.bin") == data
    assert "-" not in info.etag


async def test_listing_more_keys_than_one_page_returns_them_all_sorted() -> None:
    keys = [f"log/{n:04d}" for n in range(1100)]
    async with scratch_bucket() as config, S3ObjectStorage(config) as storage:
        limit = asyncio.Semaphore(64)

        async def put(key: str) -> None:
            async with limit:
                await storage.put(key, b"")

        await asyncio.gather(*(put(key) for key in reversed(keys)), storage.put("other", b""))
        async with raw_client() as client:
            page = await client.list_objects_v2(Bucket=config.bucket, Prefix="log/")
        assert (len(page["Contents"]), page["IsTruncated"]) == (1000, True)  # S3 pages so
        assert await storage.list("log/") == keys
        assert await storage.list("log/10") == keys[1000:]
        assert len(await storage.list()) == 1101


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/absolute",
        "nul\x00byte",
        "new\nline",
        "tab\tinside",
        "del\x7f",
        "c1\x85control",
        "lone \ud800 surrogate",
        "k" * 1025,
        "é" * 513,  # 1026 UTF-8 bytes in 513 characters
    ],
)
async def test_a_key_s3_cannot_store_is_invalid_input_and_nothing_is_sent(key: str) -> None:
    storage = S3ObjectStorage(replace(SETTINGS, endpoint_url="http://127.0.0.1:1"))
    async with storage:
        with pytest.raises(InvalidInputError):
            await storage.put(key, b"x")
        for read in (storage.get, storage.stat, storage.delete):
            with pytest.raises(InvalidInputError):
                await read(key)
        if key:
            with pytest.raises(InvalidInputError):
                await storage.list(key)


async def test_the_key_limit_of_1024_bytes_counts_the_prefix() -> None:
    async with scratch_bucket(prefix="p/") as config, S3ObjectStorage(config) as storage:
        await storage.put("k" * 1022, b"fits")
        assert await storage.get("k" * 1022) == b"fits"
        with pytest.raises(InvalidInputError, match="1025 UTF-8 bytes"):
            await storage.put("k" * 1023, b"too long")
        assert await storage.list() == ["k" * 1022]


@pytest.mark.parametrize("content_type", ["", "text/plain\r\nX-Injected: 1", "text/\u00e9"])
async def test_a_content_type_that_cannot_be_a_header_is_invalid_input(content_type: str) -> None:
    async with S3ObjectStorage(replace(SETTINGS, endpoint_url="http://127.0.0.1:1")) as storage:
        with pytest.raises(InvalidInputError, match="content type"):
            await storage.put("k", b"x", content_type=content_type)


KEYS = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=120).filter(
    lambda key: not key.startswith("/")
)


@pytest.fixture(scope="module")
def shared_bucket() -> Iterator[S3Settings]:
    """One bucket for every example of a property test (each example uses its own prefix)."""
    config = replace(SETTINGS, bucket=f"forze-test-{uuid4().hex[:16]}")

    async def create() -> None:
        async with S3ObjectStorage(config) as storage:
            await storage.ensure_bucket()

    asyncio.run(create())
    yield config
    asyncio.run(remove_bucket(config.bucket))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keys=st.lists(KEYS, min_size=1, max_size=4, unique=True), data=st.binary(max_size=64))
@example(keys=["00", "0"], data=b"")  # a key that prefixes one deleted before it
async def test_any_valid_key_round_trips_through_put_list_get_and_delete(
    shared_bucket: S3Settings, keys: list[str], data: bytes
) -> None:
    config = replace(shared_bucket, prefix=f"{uuid4().hex[:8]}/")
    async with S3ObjectStorage(config) as storage:
        for key in keys:
            await storage.put(key, data)
        assert await storage.list() == sorted(keys)
        stored = set(keys)
        for key in keys:  # a key deleted before is listed no more
            assert await storage.get(key) == data
            assert await storage.list(key) == sorted(k for k in stored if k.startswith(key))
            assert await storage.delete(key) is True
            stored.remove(key)
        assert await storage.list() == []


async def copy_report(ctx: ExecutionContext, name: str) -> list[str]:
    objects = ctx.port(OBJECTS)
    await objects.put(f"reports/{name}", b"report", content_type="text/plain")
    return await objects.list("reports/")


COPY_REPORT = Usecase.command("copy_report", copy_report, (OBJECTS, None))


async def test_a_usecase_stores_objects_through_s3_module_until_the_runtime_stops() -> None:
    async with scratch_bucket() as config:
        runtime = build_runtime(s3_module(config), usecases=[COPY_REPORT])
        async with runtime:
            assert await runtime.execute(COPY_REPORT, "q1") == ["reports/q1"]
            storage = runtime.context().port(OBJECTS)
        with pytest.raises(StorageUnavailable, match="closed") as closed:
            await storage.get("reports/q1")
        async with S3ObjectStorage(config) as check:
            assert (await check.stat("reports/q1")).content_type == "text/plain"
    assert closed.value.transient is False


async def test_a_runtime_start_fails_on_a_missing_bucket_unless_asked_to_create_it() -> None:
    config = replace(SETTINGS, bucket=f"forze-test-{uuid4().hex[:16]}")
    with pytest.raises(StorageUnavailable, match="does not exist") as missing:
        async with build_runtime(s3_module(config), usecases=[COPY_REPORT]):
            pass
    assert missing.value.transient is False
    created = replace(SETTINGS, bucket=f"forze-test-{uuid4().hex[:16]}")
    try:
        async with build_runtime(s3_module(created, ensure_bucket=True), usecases=[COPY_REPORT]):
            pass
        async with S3ObjectStorage(created) as storage:
            await storage.check()
    finally:
        await remove_bucket(created.bucket)


@pytest.mark.parametrize(
    "changes",
    [
        {"bucket": "ab"},
        {"bucket": "a/b/c"},
        {"prefix": "/rooted/"},
        {"prefix": "tab\t/"},
        {"part_size": 5 * MIB - 1},
        {"multipart_threshold": 4 * MIB},
        {"call_timeout": 0},
        {"max_attempts": 0},
        {"multipart_concurrency": 0},
    ],
)
def test_settings_s3_could_never_accept_are_refused_when_made(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        replace(SETTINGS, **changes)  # type: ignore[arg-type]
