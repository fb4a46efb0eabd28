"""pytest plugin entry point: the fixtures of the bridgekit test kit."""

from __future__ import annotations

from bridgekit.testing._backends import (  # noqa: F401
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
)
from bridgekit.testing._infra_fixtures import *  # noqa: F403
from bridgekit.testing._matrix_fixtures import *  # noqa: F403
from bridgekit.testing.secrets import pytest_sessionfinish, pytest_sessionstart  # noqa: F401
