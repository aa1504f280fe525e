"""Integration fixtures: the real services, started once per test session on the test overlay's
ports with a fresh state folder, and stopped at the end."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from retail_platform.runtime import stack
from retail_platform.settings import Settings, get_settings
from retail_platform.warehouse.client import connect


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def test_stack(settings: Settings) -> Iterator[Settings]:
    assert settings.state_dir.name == "test", "integration tests must run on the test overlay"
    stack.down(settings, log=lambda _: None)  # a previous run that was interrupted
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    yield settings
    stack.down(settings, log=lambda _: None)


@pytest.fixture(scope="session")
def warehouse(test_stack: Settings) -> Settings:
    stack.up(test_stack, ("warehouse",))
    return test_stack


@pytest.fixture(scope="session")
def kafka(test_stack: Settings) -> Settings:
    stack.up(test_stack, ("kafka",))
    return test_stack


@pytest.fixture(scope="session")
def airflow(warehouse: Settings, kafka: Settings) -> Settings:
    stack.up(warehouse, ("airflow",))
    return warehouse


@pytest.fixture
def warehouse_client_factory(warehouse: Settings) -> Iterator[Callable[..., Client]]:
    """``factory(database="x")`` returns a client of the running endpoint; "" selects no database."""
    clients: list[Client] = []

    def factory(database: str | None = None, **kwargs: object) -> Client:
        client = connect(warehouse, database=database, **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture(scope="module")
def spark(warehouse: Settings) -> Iterator[Any]:
    """A Spark session on the test overlay for one module, stopped at its end (the JVM stays up for
    the session: pyspark starts it once per process, with the first module's options)."""
    from retail_platform.spark import job_session

    session = job_session("integration-tests", warehouse, driver_memory="2g")
    yield session
    session.stop()
