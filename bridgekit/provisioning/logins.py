"""Login processes run through the provisioning API.

The API drives the same step machine as the ``login`` chat command
(``bridgekit.network.login``). Each process gets an opaque random ID and belongs to
the user who started it: another user asking for it gets the same 404 as for an ID
that never existed. A process that sees no request for ``bridge.login_timeout``
seconds is cancelled (``LoginProcess.cancel`` releases what it holds), and a user
has at most ``MAX_PER_USER`` at a time: starting one more cancels their oldest.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from ..network.login import (
    DisplayAndWaitLogin,
    LoginError,
    LoginProcess,
    LoginStep,
    LoginStepType,
    UserInputLogin,
)
from .errors import LOGIN_CANCELLED, LOGIN_FAILED, LOGIN_REJECTED, ProvisioningError

if TYPE_CHECKING:
    from ..bridge import Bridge

log = logging.getLogger("bridgekit.provisioning.logins")

MAX_PER_USER = 5


@dataclass(eq=False)
class LoginSession:
    """One login process of one user: the process and the step it is at."""

    id: str
    user_mxid: str
    flow_id: str
    process: LoginProcess
    step: LoginStep
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    wait_task: asyncio.Future[LoginStep] | None = None
    timer: asyncio.TimerHandle | None = None
    closed: bool = False


def _gone() -> ProvisioningError:
    return ProvisioningError(
        410,
        LOGIN_CANCELLED,
        "This login was cancelled or expired while the request waited. Start a new one.",
    )


def check_values(step: LoginStep, values: Mapping[str, Any]) -> dict[str, str]:
    """The answers to ``step``'s fields, checked as the chat flow checks them: a
    missing or empty answer takes the field's default (or is refused), a ``pattern``
    must match in full, a ``SELECT`` answer must be one of the ``options``. Keys that
    name no field are ignored."""
    answers: dict[str, str] = {}
    for spec in step.fields:
        raw = values.get(spec.id)
        if raw is not None and not isinstance(raw, str):
            raise ProvisioningError(400, "M_BAD_JSON", f"values.{spec.id} must be a string.")
        if not raw:
            if spec.default is None:
                raise ProvisioningError(
                    400, "M_MISSING_PARAM", f"Send your {spec.name} as values.{spec.id}."
                )
            raw = spec.default
        if spec.pattern and not re.fullmatch(spec.pattern, raw):
            raise ProvisioningError(
                400,
                "M_INVALID_PARAM",
                f"values.{spec.id} doesn't look like a valid {spec.name}. Check it and try again.",
            )
        if spec.options and raw not in spec.options:
            raise ProvisioningError(
                400,
                "M_INVALID_PARAM",
                f"values.{spec.id} must be one of: {', '.join(spec.options)}.",
            )
        answers[spec.id] = raw
    return answers


class LoginSessions:
    """The in-progress API logins of every user.

    Every method raises ``ProvisioningError`` with a status and a message for the
    caller. A step that reaches ``COMPLETE`` creates the login with
    ``Bridge.complete_login`` (as the chat flow does) and ends the session.
    """

    def __init__(self, bridge: Bridge, timeout: float) -> None:
        self.bridge = bridge
        self.timeout = timeout
        self._sessions: dict[str, LoginSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # Starting and finding --------------------------------------------------------

    async def start(self, user_mxid: str, flow_id: str) -> LoginSession:
        """Start a login with ``flow_id`` and return its session at the first step (or
        already complete, when the flow needs nothing from the user)."""
        flows = self.bridge.connector.get_login_flows()
        if not any(flow.id == flow_id for flow in flows):
            names = ", ".join(flow.id for flow in flows)
            raise ProvisioningError(
                404, "M_NOT_FOUND", f"There is no login flow {flow_id!r}. Use one of: {names}."
            )
        process = await self.bridge.connector.create_login(user_mxid, flow_id)
        try:
            step = await process.start()
        except LoginError as e:
            await self._cancel_process(process)
            raise ProvisioningError(400, LOGIN_FAILED, str(e)) from None
        except Exception:
            await self._cancel_process(process)
            raise
        session = LoginSession(secrets.token_urlsafe(18), user_mxid, flow_id, process, step)
        log.info("Provisioning: %s started a %s login", user_mxid, flow_id)
        await self._evict_oldest(user_mxid)
        self._sessions[session.id] = session
        await self._advance(session, step)
        return session

    def get(self, process_id: str, user_mxid: str) -> LoginSession:
        """The session ``process_id`` of ``user_mxid``; each look-up restarts its timeout."""
        session = self._sessions.get(process_id)
        if session is None or session.user_mxid != user_mxid:
            raise ProvisioningError(
                404,
                "M_NOT_FOUND",
                "No such login process (it may have finished or expired). Start a new one.",
            )
        self._arm_timer(session)
        return session

    async def _evict_oldest(self, user_mxid: str) -> None:
        own = [s for s in self._sessions.values() if s.user_mxid == user_mxid]
        for session in own[: max(0, len(own) - MAX_PER_USER + 1)]:
            log.info("Provisioning: cancelling the oldest login of %s for a new one", user_mxid)
            await self.cancel(session)

    # Moving through the steps ---------------------------------------------------

    async def submit(self, session: LoginSession, values: Mapping[str, Any]) -> LoginStep:
        """Answer the current ``USER_INPUT`` step. A non-fatal ``LoginError`` becomes a
        400 and leaves the process at the same step, ready for another try."""
        process = session.process
        if session.step.type != LoginStepType.USER_INPUT or not isinstance(process, UserInputLogin):
            raise ProvisioningError(
                409,
                "M_BAD_STATE",
                f"This login is at a {session.step.type.value} step, which takes no input.",
            )
        answers = check_values(session.step, values)
        async with self._exclusive(session):
            try:
                step = await process.submit_user_input(answers)
            except LoginError as e:
                await self._failed(session, e)
            except Exception:
                await self._crashed(session)
            return await self._advance(session, step)

    async def wait(self, session: LoginSession) -> LoginStep:
        """Wait for the current ``DISPLAY_AND_WAIT`` step to be used (a QR code scanned,
        a code typed elsewhere) and return the next step."""
        process = session.process
        if session.step.type != LoginStepType.DISPLAY_AND_WAIT or not isinstance(
            process, DisplayAndWaitLogin
        ):
            raise ProvisioningError(
                409,
                "M_BAD_STATE",
                f"This login is at a {session.step.type.value} step; there is nothing to wait "
                "for. Send its input instead.",
            )
        async with self._exclusive(session):
            task = asyncio.ensure_future(process.wait())
            session.wait_task = task
            try:
                await asyncio.wait([task])
            except asyncio.CancelledError:
                task.cancel()
                raise
            finally:
                session.wait_task = None
            if task.cancelled():
                raise _gone()
            try:
                step = task.result()
            except LoginError as e:
                await self._failed(session, e)
            except Exception:
                await self._crashed(session)
            return await self._advance(session, step)

    async def _advance(self, session: LoginSession, step: LoginStep) -> LoginStep:
        if session.closed:
            raise _gone()
        session.step = step
        if step.type != LoginStepType.COMPLETE:
            self._arm_timer(session)
            return step
        assert step.complete is not None
        self._forget(session)
        user = await self.bridge.get_user(session.user_mxid)
        try:
            login = await self.bridge.complete_login(user, step.complete)
        except LoginError as e:
            raise ProvisioningError(409, LOGIN_FAILED, str(e)) from e
        log.info("Provisioning: %s completed a login as %s", session.user_mxid, login.id)
        return step

    async def _failed(self, session: LoginSession, error: LoginError) -> NoReturn:
        """Turn a ``LoginError`` into the API's answer (ending the process if fatal)."""
        if session.closed:
            raise _gone()
        if error.fatal:
            await self.cancel(session)
            raise ProvisioningError(400, LOGIN_FAILED, f"{error} Start a new login.")
        raise ProvisioningError(400, LOGIN_REJECTED, str(error))

    async def _crashed(self, session: LoginSession) -> NoReturn:
        """The network's process raised something other than ``LoginError`` (called in
        an ``except`` block): log it and end the process."""
        if session.closed:
            raise _gone()
        log.exception("Provisioning: the %s login of %s failed", session.flow_id, session.user_mxid)
        await self.cancel(session)
        raise ProvisioningError(
            500,
            LOGIN_FAILED,
            "The login failed because of an error in the bridge (its log has the details). "
            "Start a new login.",
        )

    @asynccontextmanager
    async def _exclusive(self, session: LoginSession) -> AsyncIterator[None]:
        # Two requests answering the same step at once would race inside the network's
        # process; the second is refused rather than queued behind a possibly long wait.
        if session.lock.locked():
            raise ProvisioningError(
                409,
                "M_BAD_STATE",
                "Another request for this login is still running; wait for its answer.",
            )
        async with session.lock:
            yield

    # Ending ------------------------------------------------------------------------

    async def cancel(self, session: LoginSession) -> None:
        """End the session and release what its process holds (idempotent)."""
        if session.closed:
            return
        self._forget(session)
        if session.wait_task is not None:
            session.wait_task.cancel()
        await self._cancel_process(session.process)

    def _forget(self, session: LoginSession) -> None:
        session.closed = True
        self._sessions.pop(session.id, None)
        if session.timer is not None:
            session.timer.cancel()
            session.timer = None

    @staticmethod
    async def _cancel_process(process: LoginProcess) -> None:
        try:
            await process.cancel()
        except Exception:
            log.exception("Provisioning: cancelling a login process failed")

    def _arm_timer(self, session: LoginSession) -> None:
        if session.timer is not None:
            session.timer.cancel()
        session.timer = asyncio.get_running_loop().call_later(self.timeout, self._expire, session)

    def _expire(self, session: LoginSession) -> None:
        if session.closed:
            return
        log.info(
            "Provisioning: the %s login of %s expired after %.0f s without a request",
            session.flow_id,
            session.user_mxid,
            self.timeout,
        )
        self._spawn(self.cancel(session))

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Cancel every session (at shutdown)."""
        for session in list(self._sessions.values()):
            await self.cancel(session)
        if self._tasks:
            await asyncio.wait(list(self._tasks))
