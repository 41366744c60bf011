from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from pytest_alembic.config import Config

from chimera_store.migrator import open_engine


@pytest.fixture
def alembic_config() -> Config:
    return Config(config_options={"script_location": "chimera_store:migrations"})


@pytest.fixture
def alembic_engine(empty_db_url: str) -> Iterator[Any]:
    engine: sa.Engine = open_engine(empty_db_url)
    yield engine
    engine.dispose()
