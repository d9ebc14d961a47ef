# Two commands matter: `make demo` and `make test`. Both work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint typecheck contracts docs pytest bench clean services

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/forze demo

services:
	bash .ci/ensure-services.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy forze eventstore/forze_eventstore projections/forze_projections adapters/forze_mock adapters/forze_cli adapters/forze_postgres adapters/forze_mongo adapters/forze_fastapi adapters/forze_socketio adapters/forze_redis adapters/forze_rabbitmq adapters/forze_sqs adapters/forze_s3 adapters/forze_temporal adapters/forze_otel adapters/forze_eventsourcing examples/forze_examples tests $(wildcard benchmarks/*.py)

contracts: $(STAMP)
	$(BIN)/lint-imports

# The documentation site (mkdocs.yml), built strictly: a broken link, anchor or API reference
# fails. Its log is shown only then: `--quiet` would hide warnings from `--strict` as well.
docs: $(STAMP)
	@log=$$(NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site 2>&1) \
		|| { printf '%s\n' "$$log"; exit 1; }

# Two workers, a test file each at a time: the suite mostly waits on servers and processes,
# so two workers halve its time on a 2-core machine. Every test makes its own database,
# schema, queue, bucket or key prefix, and a test that breaks connections breaks only its own.
# A worker that crashes ends the run, naming the test it ran: pytest-xdist 3.8's loadfile
# scheduler can wait forever for the worker that replaces a crashed one.
pytest: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --max-worker-restart=0 --durations=25

test: lint typecheck contracts services docs pytest

bench: $(STAMP) services
	$(BIN)/python benchmarks/eventstore.py
	$(BIN)/python benchmarks/projections.py
	$(BIN)/python benchmarks/postgres.py
	$(BIN)/python benchmarks/mongo.py
	$(BIN)/python benchmarks/http_api.py
	$(BIN)/python benchmarks/messaging.py
	$(BIN)/python benchmarks/sagas.py
	$(BIN)/python benchmarks/events_verify.py
	$(BIN)/python benchmarks/archive.py --storage s3
	$(BIN)/python benchmarks/eventsourcing_interop.py
	$(BIN)/python benchmarks/eventsourcing_import.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache build dist
