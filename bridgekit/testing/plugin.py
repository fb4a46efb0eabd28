"""pytest plugin entry point: the fixtures of the bridgekit test kit."""

from __future__ import annotations

from bridgekit.testing._infra_fixtures import *  # noqa: F403
from bridgekit.testing._matrix_fixtures import *  # noqa: F403
