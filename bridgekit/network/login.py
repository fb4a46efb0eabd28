"""Logging in: a step machine that the chat commands and the provisioning API both drive.

A network offers one or more ``LoginFlow``s (phone + code, QR, token...). Starting a
flow gives a ``LoginProcess``; each call returns the next ``LoginStep``:

- ``USER_INPUT``: ask the user for ``fields`` and pass the answers to
  ``submit_user_input``;
- ``DISPLAY_AND_WAIT``: show ``display`` (a QR code, a code to type elsewhere) and
  call ``wait`` until the network reports what happened;
- ``COMPLETE``: done; ``complete`` says which login was created.

A process that raises ``LoginError`` stays usable: the user is shown the message and
may answer the same step again (a mistyped code), unless ``fatal`` is set.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from .ids import LoginID


@dataclass(slots=True, frozen=True)
class LoginFlow:
    """A way to log in, e.g. ``LoginFlow("phone", "Phone number", "Log in with a code")``."""

    id: str
    name: str
    description: str


class LoginStepType(StrEnum):
    """The kinds of login step."""

    USER_INPUT = "user_input"
    DISPLAY_AND_WAIT = "display_and_wait"
    COMPLETE = "complete"


class InputFieldType(StrEnum):
    """What a field asks for; ``PASSWORD`` and ``TOKEN`` answers are secret (the bot
    redacts the message that carried them and never logs them)."""

    TEXT = "text"
    USERNAME = "username"
    PHONE_NUMBER = "phone_number"
    EMAIL = "email"
    CODE = "code"
    PASSWORD = "password"
    TOKEN = "token"
    URL = "url"
    DOMAIN = "domain"
    SELECT = "select"

    @property
    def is_secret(self) -> bool:
        """Whether answers must be hidden."""
        return self in (InputFieldType.PASSWORD, InputFieldType.TOKEN, InputFieldType.CODE)


@dataclass(slots=True, frozen=True)
class InputField:
    """One value asked of the user. ``pattern`` is a regular expression the answer must
    match in full (checked by the core, which re-asks on a mismatch); ``options``
    lists the allowed answers of a ``SELECT`` field; ``default`` is used for an
    empty answer when set."""

    id: str
    name: str
    type: InputFieldType = InputFieldType.TEXT
    description: str = ""
    pattern: str | None = None
    options: tuple[str, ...] = ()
    default: str | None = None


class DisplayType(StrEnum):
    """What a ``DISPLAY_AND_WAIT`` step shows."""

    QR = "qr"
    CODE = "code"
    NOTHING = "nothing"


@dataclass(slots=True, frozen=True)
class LoginDisplay:
    """Something to show: ``data`` is the QR payload or the code."""

    type: DisplayType
    data: str = ""


@dataclass(slots=True)
class LoginComplete:
    """A finished login: the core stores a login with this ID (replacing an earlier
    login of the same user with the same ID), then calls
    ``NetworkConnector.load_user_login`` and connects it."""

    login_id: LoginID
    remote_name: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class LoginStep:
    """One step of a login. ``step_id`` is a stable name (``phone``, ``code``,
    ``password``) for API clients; ``instructions`` is shown to the user."""

    type: LoginStepType
    step_id: str
    instructions: str = ""
    fields: list[InputField] = field(default_factory=list)
    display: LoginDisplay | None = None
    complete: LoginComplete | None = None

    @classmethod
    def user_input(cls, step_id: str, instructions: str, *fields: InputField) -> LoginStep:
        """Ask for ``fields``."""
        return cls(LoginStepType.USER_INPUT, step_id, instructions, fields=list(fields))

    @classmethod
    def display_and_wait(cls, step_id: str, instructions: str, display: LoginDisplay) -> LoginStep:
        """Show ``display`` and wait."""
        return cls(LoginStepType.DISPLAY_AND_WAIT, step_id, instructions, display=display)

    @classmethod
    def done(
        cls, login_id: LoginID, remote_name: str, metadata: dict[str, Any] | None = None
    ) -> LoginStep:
        """The login is complete."""
        return cls(
            LoginStepType.COMPLETE,
            "complete",
            f"Logged in as {remote_name}.",
            complete=LoginComplete(login_id, remote_name, metadata or {}),
        )


class LoginError(Exception):
    """A login step failed. The message is shown to the user as it is, so say what to
    do ("That code is wrong. Type the newest code Telegram sent you."). With
    ``fatal`` the process is over and the user must start again."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


class LoginProcess(ABC):
    """One user's attempt to log in with one flow. Implement ``UserInputLogin`` and/or
    ``DisplayAndWaitLogin`` for the step types the flow returns."""

    @abstractmethod
    async def start(self) -> LoginStep:
        """Return the first step."""

    async def cancel(self) -> None:
        """Abandon the login and release what it holds (connections, temp sessions).
        Called when the user cancels, times out or starts another login."""


@runtime_checkable
class UserInputLogin(Protocol):
    """A login process with ``USER_INPUT`` steps."""

    async def submit_user_input(self, values: dict[str, str]) -> LoginStep:
        """Take the answers to the current step's fields (keyed by field ID) and
        return the next step. Raise ``LoginError`` to reject them."""
        ...


@runtime_checkable
class DisplayAndWaitLogin(Protocol):
    """A login process with ``DISPLAY_AND_WAIT`` steps."""

    async def wait(self) -> LoginStep:
        """Block until the displayed thing was used (or expired) and return the next
        step. May be cancelled by the core."""
        ...
