"""A whole-run watch for secrets in logs.

Every log record emitted during the test session (at the level the code logs at) is
checked against the secrets the tests registered with :func:`register_secret`:
appservice and homeserver tokens (registered by ``BridgeSetup`` itself), passwords,
login codes and network tokens (registered by the tests that type them). A record
that contains one is remembered, and the session fails at its end, naming the
logger, the level and the place of the record (never the secret itself).

Plugin authors get this for free through the ``bridgekit.testing`` plugin; register
the secrets of your network's logins the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

__all__ = ["SecretLeak", "leaks", "register_secret"]

#: Shorter strings match by accident (and are not secrets worth the name).
_MIN_LENGTH = 6


@dataclass
class _Session:
    secrets: set[str] = field(default_factory=set)
    leaks: list[SecretLeak] = field(default_factory=list)


#: One watch per test session (a session run inside a test, by ``pytester``, gets its
#: own, and the outer session's is back when it ends).
_sessions: list[_Session] = [_Session()]


@dataclass(frozen=True, slots=True)
class SecretLeak:
    """A log record that contained a registered secret."""

    logger: str
    level: str
    where: str


def register_secret(value: str) -> None:
    """Fail the test session if ``value`` ever appears in a log record."""
    if len(value) >= _MIN_LENGTH:
        _sessions[-1].secrets.add(value)


def leaks() -> list[SecretLeak]:
    """The leaks found so far in this session."""
    return list(_sessions[-1].leaks)


class _Watch(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        session = _sessions[-1]
        if not session.secrets:
            return
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += f"\n{record.exc_info[1]!r}"
        if any(secret in text for secret in session.secrets):
            where = f"{record.pathname}:{record.lineno}"
            session.leaks.append(SecretLeak(record.name, record.levelname, where))


_handler = _Watch(level=logging.NOTSET)


def pytest_sessionstart(session: pytest.Session) -> None:
    _sessions.append(_Session())
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    found = _sessions.pop().leaks if len(_sessions) > 1 else []
    if len(_sessions) == 1:
        logging.getLogger().removeHandler(_handler)
    if not found:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"  {leak.logger} ({leak.level}) at {leak.where}" for leak in dict.fromkeys(found)]
    message = "bridgekit: a registered secret appeared in these log records:\n" + "\n".join(lines)
    if reporter is not None:
        reporter.write_line(message, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
