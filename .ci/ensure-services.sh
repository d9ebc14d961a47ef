#!/usr/bin/env bash
# Makes every backing service the test suite needs available, idempotently.
# The suite needs no server yet: the event store it tests is embedded SQLite and in-memory.
# Later adapters add their start-or-install steps here (see ../shared/SERVICES.md).
set -euo pipefail
echo "services: none required by the current suite"
