"""Logging in with a bot token, and the words for what Discord may refuse.

The token is checked with discord.py itself (``Client.login``: ``GET /users/@me`` and
``GET /oauth2/applications/@me``). The application's flags say whether the two
privileged intents the bridge needs are switched on, so a missing switch is caught
here, before the gateway would close with 4014. The token is kept only in the
login's metadata and never logged.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import discord

from bridgekit.network import (
    InputField,
    InputFieldType,
    LoginError,
    LoginFlow,
    LoginID,
    LoginProcess,
    LoginStep,
    UserInputLogin,
)

from .settings import gateway_intents

log = logging.getLogger("bridgekit.discord.login")

BOT_FLOW = LoginFlow("bot", "Bot token", "Log in with the token of a Discord bot application")

#: What the bot needs in a channel: read and write, react, upload, delete (for
#: Matrix redactions of its messages) and webhooks (Matrix users' own names).
BOT_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_external_emojis=True,
    manage_messages=True,
    manage_webhooks=True,
)

_PORTAL = "https://discord.com/developers/applications"


def invite_url(application_id: int | str) -> str:
    """The link that adds the bot to a server with the permissions it needs."""
    return discord.utils.oauth_url(int(application_id), permissions=BOT_PERMISSIONS)


def missing_intents(flags: discord.ApplicationFlags) -> list[str]:
    """The developer-portal switches of the privileged intents the bridge needs that
    are off, named as the portal names them."""
    missing = []
    if not (flags.gateway_message_content or flags.gateway_message_content_limited):
        missing.append("Message Content Intent")
    if not (flags.gateway_guild_members or flags.gateway_guild_members_limited):
        missing.append("Server Members Intent")
    return missing


def intents_help(application_id: int | str | None, missing: list[str] | None = None) -> str:
    """Tell the user which switch to turn on, and where."""
    where = f"{_PORTAL}/{application_id}/bot" if application_id else _PORTAL
    switches = " and ".join(missing or ["Message Content Intent", "Server Members Intent"])
    return (
        f"Discord refused the privileged intents the bridge needs. Open {where}, turn on "
        f"{switches} under “Privileged Gateway Intents”, and save."
    )


TOKEN_REFUSED = (
    "Discord refused the bot token (it is wrong, or it was reset). Copy a fresh token "
    "from the Bot page of your application in the developer portal "
    f"({_PORTAL}) and log in again."
)


class BotTokenLogin(LoginProcess, UserInputLogin):
    """One step: the bot token, checked against Discord before it is accepted."""

    async def start(self) -> LoginStep:
        return LoginStep.user_input(
            "token",
            "Create an application in the Discord developer portal "
            f"({_PORTAL}), add a bot to it, turn on “Message Content Intent” and "
            "“Server Members Intent” on its Bot page, then copy its token.",
            InputField(
                "token",
                "bot token",
                InputFieldType.TOKEN,
                description="the secret from the Bot page; it is never shown or logged",
                pattern=r"[A-Za-z0-9_.\-]{20,200}",
            ),
        )

    async def submit_user_input(self, values: dict[str, str]) -> LoginStep:
        token = values["token"].strip()
        client = discord.Client(intents=gateway_intents())
        try:
            await asyncio.wait_for(client.login(token), 30)
        except discord.LoginFailure:
            raise LoginError(TOKEN_REFUSED) from None
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as e:
            log.warning("Could not check a bot token: %s", type(e).__name__)
            raise LoginError("Could not reach Discord to check the token. Try again.") from None
        finally:
            await client.close()
        user = client.user
        if user is None or not user.bot:
            raise LoginError("That is not a bot token. Copy the token from the Bot page.")
        app_id = client.application_id
        missing = missing_intents(client.application_flags)
        if missing:
            raise LoginError(intents_help(app_id, missing) + " Then send the token again.")
        log.info("Bot %s (%s) logged in", user.name, user.id)
        return LoginStep.done(
            LoginID(str(user.id)),
            user.name,
            {"token": token, "application_id": str(app_id)},
        )
