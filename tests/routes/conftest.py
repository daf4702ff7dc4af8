"""Embedded servers on the towns the route tests drive in, one per test module."""

from collections.abc import Iterator

import pytest

from tests.conftest import CARLA_TOWNS, EmbeddedServerHandle, start_embedded_server


@pytest.fixture(scope="module")
def grid01() -> Iterator[EmbeddedServerHandle]:
    with start_embedded_server(map_name="Grid01") as server:
        yield server


@pytest.fixture(scope="module")
def roundabout01() -> Iterator[EmbeddedServerHandle]:
    with start_embedded_server(map_name="Roundabout01") as server:
        yield server


@pytest.fixture(scope="module")
def town01() -> Iterator[EmbeddedServerHandle]:
    if not (CARLA_TOWNS / "Town01.xodr").is_file():
        pytest.skip(f"CARLA's towns are not in {CARLA_TOWNS}")
    with start_embedded_server("--map-dir", str(CARLA_TOWNS), map_name="Town01") as server:
        yield server
