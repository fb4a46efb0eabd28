"""Login commands: login (any flow, step by step), logout, list-logins."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from typing import TYPE_CHECKING

from mautrix.errors import MatrixRequestError
from mautrix.types import EventID, EventType, RoomID, TextMessageEventContent

from ..network.login import (
    DisplayAndWaitLogin,
    DisplayType,
    InputField,
    LoginError,
    LoginStep,
    LoginStepType,
    UserInputLogin,
)
from ..user import PendingLogin
from .processor import Command, CommandEvent

if TYPE_CHECKING:
    from ..bridge import Bridge
    from ..user import User

log = logging.getLogger("bridgekit.commands.login")


async def _say(bridge: Bridge, room_id: RoomID, text: str) -> None:
    content = TextMessageEventContent(msgtype="m.notice", body=text)  # type: ignore[arg-type]
    await bridge.send_bot_message(room_id, content)


async def login_command(evt: CommandEvent) -> None:
    bridge = evt.bridge
    if not evt.is_management:
        await evt.reply("Log in from your management room (a direct chat with me).")
        return
    flows = bridge.connector.get_login_flows()
    if evt.args:
        flow = next((f for f in flows if f.id == evt.args[0].lower()), None)
        if flow is None:
            names = ", ".join(f"`{f.id}`" for f in flows)
            await evt.reply(f"There is no login method `{evt.args[0]}`. Choose one of: {names}.")
            return
    elif len(flows) == 1:
        flow = flows[0]
    else:
        lines = [f"  login {f.id} — {f.name}: {f.description}" for f in flows]
        await evt.reply("Choose how to log in:\n" + "\n".join(lines))
        return
    if evt.user.pending_login is not None:
        await evt.user.pending_login.process.cancel()
        evt.user.pending_login = None
    process = await bridge.connector.create_login(evt.user.mxid, flow.id)
    try:
        step = await process.start()
    except LoginError as e:
        await evt.reply(str(e))
        return
    evt.user.pending_login = PendingLogin(process, step, flow.id)
    await _show_step(bridge, evt.user, evt.room_id)


def _next_field(step: LoginStep, values: dict[str, str]) -> InputField | None:
    return next((f for f in step.fields if f.id not in values), None)


async def _show_step(bridge: Bridge, user: User, room_id: RoomID) -> None:
    pending = user.pending_login
    if pending is None:
        return
    step = pending.step
    if step.type == LoginStepType.COMPLETE:
        user.pending_login = None
        assert step.complete is not None
        try:
            login = await bridge.complete_login(user, step.complete)
        except LoginError as e:
            await _say(bridge, room_id, f"Login failed: {e}")
            return
        await _say(bridge, room_id, f"Successfully logged in as {login.remote_name}.")
    elif step.type == LoginStepType.USER_INPUT:
        field = _next_field(step, pending.values)
        if field is None:
            return
        intro = f"{step.instructions}\n" if not pending.values and step.instructions else ""
        extra = f" ({field.description})" if field.description else ""
        options = f" Options: {', '.join(field.options)}." if field.options else ""
        await _say(
            bridge,
            room_id,
            f"{intro}Please send your {field.name}{extra}.{options} Send `cancel` to stop.",
        )
    elif step.type == LoginStepType.DISPLAY_AND_WAIT:
        display = step.display
        text = step.instructions
        if display is not None and display.type == DisplayType.CODE:
            text += f"\n\n{display.data}"
        await _say(bridge, room_id, text)
        if display is not None and display.type == DisplayType.QR:
            await _send_qr(bridge, room_id, display.data)
        task = asyncio.create_task(_wait(bridge, user, room_id, pending))
        bridge.background_tasks.add(task)
        task.add_done_callback(bridge.background_tasks.discard)


async def _send_qr(bridge: Bridge, room_id: RoomID, data: str) -> None:
    """The QR code as an image (its text as the fallback body, for clients without
    images and for copying)."""
    png = io.BytesIO()
    # Imported here: only QR logins need it, and it takes most of a megabyte.
    import segno

    segno.make(data, error="m").save(png, kind="png", scale=8, border=4)
    image = png.getvalue()
    media = await bridge.upload_for_room(bridge.bot_intent, room_id, image, "image/png", "qr.png")
    content = {
        "msgtype": "m.image",
        "body": data,
        "info": {"mimetype": "image/png", "size": len(image)},
        **media,
    }
    await bridge.send_as(bridge.bot_intent, room_id, EventType.ROOM_MESSAGE, content)


async def _wait(bridge: Bridge, user: User, room_id: RoomID, pending: PendingLogin) -> None:
    process = pending.process
    if not isinstance(process, DisplayAndWaitLogin):
        return
    try:
        step = await process.wait()
    except LoginError as e:
        if user.pending_login is pending:
            user.pending_login = None
        await _say(bridge, room_id, f"Login failed: {e}")
        return
    if user.pending_login is not pending:
        return  # cancelled meanwhile
    pending.step = step
    pending.values = {}
    await _show_step(bridge, user, room_id)


async def handle_login_input(
    bridge: Bridge, user: User, room_id: RoomID, body: str, event_id: str
) -> None:
    """The user's answer to the current login field."""
    pending = user.pending_login
    assert pending is not None
    step = pending.step
    field = _next_field(step, pending.values)
    if step.type != LoginStepType.USER_INPUT or field is None:
        await _say(bridge, room_id, "Waiting for the login to continue; send `cancel` to stop.")
        return
    value = body.strip()
    if field.type.is_secret:
        try:
            await bridge.bot_intent.redact(room_id, EventID(event_id), reason="Login secret")
        except MatrixRequestError:
            log.debug("Could not redact a login secret in %s", room_id)
    if not value and field.default is not None:
        value = field.default
    if field.pattern and not re.fullmatch(field.pattern, value):
        await _say(bridge, room_id, f"That doesn't look like a valid {field.name}. Try again.")
        return
    if field.options and value not in field.options:
        await _say(bridge, room_id, f"Choose one of: {', '.join(field.options)}.")
        return
    pending.values[field.id] = value
    if _next_field(step, pending.values) is not None:
        await _show_step(bridge, user, room_id)
        return
    process = pending.process
    if not isinstance(process, UserInputLogin):
        user.pending_login = None
        await _say(bridge, room_id, "This login method cannot take input; it was cancelled.")
        return
    values, pending.values = pending.values, {}
    try:
        pending.step = await process.submit_user_input(values)
    except LoginError as e:
        if e.fatal:
            user.pending_login = None
            await _say(bridge, room_id, f"Login failed: {e} Send `login` to start again.")
        else:
            await _say(bridge, room_id, str(e))
            await _show_step(bridge, user, room_id)
        return
    await _show_step(bridge, user, room_id)


async def logout_command(evt: CommandEvent) -> None:
    logins = evt.user.logins
    if not logins:
        await evt.reply("You are not logged in.")
        return
    if evt.args:
        login = next((x for x in logins if x.id == evt.args[0]), None)
        if login is None:
            await evt.reply(f"You have no login `{evt.args[0]}`. See `list-logins`.")
            return
    elif len(logins) == 1:
        login = logins[0]
    else:
        await evt.reply("You have several logins: name one (see `list-logins`).")
        return
    await evt.bridge.logout(login)
    await evt.reply(f"Logged out of {login.remote_name}.")


async def list_logins_command(evt: CommandEvent) -> None:
    logins = evt.user.logins
    if not logins:
        await evt.reply("You are not logged in.")
        return
    await evt.reply("\n".join(f"{x.id}: {x.remote_name} ({x.state.value})" for x in logins))


COMMANDS = [
    Command("login", login_command, "[method]", "connect an account", "Accounts"),
    Command("logout", logout_command, "[login ID]", "disconnect an account", "Accounts"),
    Command("list-logins", list_logins_command, "", "list your accounts", "Accounts"),
]
