# Retail inventory lambda platform. `make help` lists the targets.
SHELL := /bin/bash
PY := .venv/bin/python
RETAIL := $(PY) -m retail_platform

.PHONY: help setup lock up down status demo demo-quick dashboards screenshots test test-unit test-integration lint typecheck format bench reset setup-cluster up-cluster down-cluster bench-cluster status-cluster demo-cluster test-cluster

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup:  ## Python environment and JVM artifacts (idempotent)
	@infra/setup.sh

lock: setup  ## recompile requirements.lock from requirements*.txt (after changing a pin); `make setup` installs it
	@.venv/bin/uv pip compile --quiet --universal --python-version 3.11 --custom-compile-command "make lock" \
		requirements.txt requirements-dev.txt -o requirements.lock

up: setup  ## start the local stack: Kafka, warehouse, lake, Airflow
	@$(RETAIL) up

down:  ## stop what `make up` started (data is kept)
	@$(RETAIL) down

status:  ## show each service and its health
	@$(RETAIL) status

demo: setup  ## the whole platform: stream, then a simulated history through the batch and ML DAGs, reconciled; dashboards (DEMO_ARGS="--skip-batch" etc.)
	@$(RETAIL) demo $(DEMO_ARGS)

demo-quick: setup  ## the demo's stream part only (no batch DAGs): a few minutes
	@$(RETAIL) demo --skip-batch $(DEMO_ARGS)

dashboards: setup  ## Superset up; print each dashboard's URL and logins; screenshots under .state/demo/screenshots
	@$(RETAIL) dashboards

screenshots: setup  ## regenerate the README's dashboard screenshots (docs/dashboards/) from the running stack
	@$(RETAIL) dashboards --out docs/dashboards

test: setup  ## unit tests, then integration tests against real services
	@RETAIL_PROFILE=local $(PY) -m pytest tests/unit -q
	@RETAIL_PROFILE=local $(PY) -m pytest tests/integration -q --durations=25

test-unit: setup
	@RETAIL_PROFILE=local $(PY) -m pytest tests/unit -q

test-integration: setup
	@RETAIL_PROFILE=local $(PY) -m pytest tests/integration -q --durations=25

# The cluster profile on this machine (three Kafka brokers, Spark standalone, Airflow on PostgreSQL):
# the same commands with RETAIL_PROFILE=cluster; its state is in .state/cluster, its lake in S3.
CLUSTER := RETAIL_PROFILE=cluster

setup-cluster:  ## setup plus the cluster profile's extras: the S3A jars and the S3 gateway (versitygw)
	@infra/setup.sh --cluster

up-cluster: setup-cluster  ## start the cluster profile's stack (see README, "Cluster profile")
	@$(CLUSTER) $(RETAIL) up

down-cluster:  ## stop the cluster profile's stack (data is kept)
	@$(CLUSTER) $(RETAIL) down

status-cluster:  ## show every node of the cluster profile and its health
	@$(CLUSTER) $(RETAIL) status

demo-cluster: setup-cluster  ## the demo on the cluster profile (DEMO_ARGS as for demo)
	@$(CLUSTER) $(RETAIL) demo $(DEMO_ARGS)

test-cluster: setup-cluster  ## the cluster tests (not part of `make test`): Airflow on PostgreSQL; node losses during the faulted simulation, reconciled
	@$(CLUSTER) RETAIL_STATE_DIR=$(CURDIR)/.state/cluster-test $(PY) -m pytest tests/cluster -q -p no:cacheprovider --durations=10

lint: setup  ## ruff
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .

typecheck: setup  ## mypy over the package and plugins/ (settings in pyproject.toml; cache in .mypy_cache)
	@.venv/bin/mypy

format:
	@.venv/bin/ruff format .
	@.venv/bin/ruff check --fix .

bench: setup  ## benchmarks, one after the other (an hour or more); JSON results land in bench/results/
	@$(PY) -m bench.warehouse_endpoint
	@$(PY) -m bench.batch_layer
	@$(PY) -m bench.history_import
	@$(PY) -m bench.closed_loop
	@$(PY) -m bench.forecasting
	@$(PY) -m bench.speed_layer
	@$(PY) -m bench.inventory_api
	@$(PY) -m bench.dashboards

bench-cluster: setup-cluster  ## the cluster profile's benchmark: the lake on S3 against the local file system
	@$(PY) -m bench.lake_costs

reset: down  ## delete all local state (data, logs) after stopping
	@rm -rf .state
	@echo "local state removed"
