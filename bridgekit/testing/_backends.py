"""Which database backends a ``database_url`` test runs on.

``database_url`` is parametrized over SQLite and PostgreSQL. A storage test must pass
on both, but an end-to-end test of a bridge mostly exercises Matrix and the network;
running each of those twice doubles a suite's time for little gain. With
``--db-backends=spread`` a test runs on one backend only, picked by a stable hash of
its ID so that the suite as a whole still runs end-to-end tests on both; tests marked
``both_backends`` (storage, restarts, crash recovery) keep both. The default,
``--db-backends=both``, runs every such test twice.
"""

from __future__ import annotations

import zlib

import pytest

BACKENDS = ("sqlite", "postgres")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bridgekit")
    group.addoption(
        "--db-backends",
        choices=("both", "spread"),
        default=None,
        help=(
            "run database_url tests on both SQLite and PostgreSQL ('both', the default), "
            "or once each on a backend picked by the test's ID unless marked "
            "both_backends ('spread')"
        ),
    )
    parser.addini("bridgekit_db_backends", "default for --db-backends", default="both")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "both_backends: run on SQLite and on PostgreSQL even with --db-backends=spread",
    )


def _mode(config: pytest.Config) -> str:
    mode = config.getoption("--db-backends") or config.getini("bridgekit_db_backends")
    if mode not in ("both", "spread"):
        raise pytest.UsageError(f"bridgekit_db_backends must be 'both' or 'spread', not {mode!r}")
    return str(mode)


def chosen_backend(test_id: str) -> str:
    """The backend a test with this ID (its backend left out) runs on when spread."""
    return BACKENDS[zlib.crc32(test_id.encode()) % len(BACKENDS)]


def _backend_and_id(item: pytest.Item) -> tuple[str, str] | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None or "database_url" not in callspec.params:
        return None
    backend = str(callspec.params["database_url"])
    others = [part for part in callspec.id.split("-") if part != backend]
    return backend, f"{item.path.name}::{item.originalname}[{'-'.join(others)}]"  # type: ignore[attr-defined]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _mode(config) != "spread":
        return
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        found = _backend_and_id(item)
        if found is None or item.get_closest_marker("both_backends") is not None:
            keep.append(item)
        elif found[0] == chosen_backend(found[1]):
            keep.append(item)
        else:
            dropped.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
