"""A projector process killed in the middle of a batch on MongoDB: its documents were
written, its checkpoint not yet; the standby that takes over undoes them, and the read model
ends as a fold of the whole feed (no event applied twice, none lost)."""

from __future__ import annotations

import asyncio
import sys

from forze_mongo import MongoEventStore, MongoProjectionBackend
from forze_projections.testing.projector_support import documents
from tests.mongo_support import MONGO_URL, fresh_database
from tests.test_projection_processes import (
    ENVIRONMENT,
    PATIENCE,
    ROOT,
    Place,
    Worker,
    append_events,
    caught_up,
    folded,
    holder_becomes,
    preload,
    workers,
)


async def test_a_runner_killed_before_its_commit_leaves_nothing_its_successor_applies_twice() -> (
    None
):
    async with fresh_database() as mongo:
        events = MongoEventStore(mongo)
        await events.migrate()
        place = Place(
            ["mongo", MONGO_URL, mongo.name], events, MongoProjectionBackend(mongo), "mongo"
        )
        await preload(events, 300)
        async with workers() as started:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.projection_worker",
                "serve",
                *place.arguments,
                "first",
                stdout=asyncio.subprocess.PIPE,
                env={**ENVIRONMENT, "FORZE_TEST_STALL_COMMIT": "1"},
                cwd=ROOT,
            )
            first = Worker(process)
            started.append(first)
            assert process.stdout is not None
            assert await asyncio.wait_for(process.stdout.readline(), PATIENCE) == b"ready\n"
            line = await asyncio.wait_for(process.stdout.readline(), PATIENCE)
            assert line == b"mid-batch\n", line
            assert await mongo.collection("units").count_documents({"state": "open"}) == 1
            uncommitted = await mongo.collection("rm_contract_tallies_v1").count_documents({})
            assert uncommitted > 0, "the stalled batch must have written its documents"
            assert await place.backend.checkpoints.load("tallies@v1") == 0
            second = await Worker.start("serve", *place.arguments, "second")
            started.append(second)
            await first.kill()
            await holder_becomes(place, "second")
            await append_events(events, 50)
            await caught_up(place)
            final = await second.stop()
            assert final["error"] is None
        assert await mongo.collection("units").count_documents({}) == 0
        assert await documents(place.backend.serving()) == await folded(place)
        await events.close()
