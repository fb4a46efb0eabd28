"""Logging in with a bot token or (when the operator allows it) a user token, and
the words for what Discord may refuse.

A bot token is checked with discord.py itself (``Client.login``: ``GET /users/@me``
and ``GET /oauth2/applications/@me``). The application's flags say whether the two
privileged intents the bridge needs are switched on, so a missing switch is caught
here, before the gateway would close with 4014.

A user token (``login user``, only with ``user_login: true``) is checked with
``GET /users/@me`` sent with the bare token, which discord.py cannot do; the user is
warned first that Discord may disable accounts used this way. Tokens are kept only in
the login's metadata and never logged.
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

from .settings import Endpoints, gateway_intents
from .useraccount import DiscordHTTPError, TokenRefused, UserREST

log = logging.getLogger("bridgekit.discord.login")

BOT_FLOW = LoginFlow("bot", "Bot token", "Log in with the token of a Discord bot application")
USER_FLOW = LoginFlow(
    "user",
    "User token",
    "Log in with your own Discord account's token to bridge your DMs and group DMs "
    "(against Discord's terms: the account may be disabled)",
)

#: Shown before a user token is asked for, and in the docs.
USER_TOKEN_WARNING = (
    "Warning: Discord's terms of service forbid automating user accounts. Discord may "
    "disable or ban your account for logging in here, without notice. Continue only "
    "if you accept that risk; send `cancel` to stop."
)

USER_LOGIN_OFF = (
    "User-token login is switched off on this bridge (`user_login` in the network "
    "section of its config), because Discord may disable accounts used this way. Ask "
    "the bridge's operator, or log in with a bot token (`login bot`)."
)

USER_TOKEN_REFUSED = (
    "Discord refused your user token (it is wrong, or it expired when you logged out "
    "or changed your password). Get a fresh token and send `login user` again."
)

#: Said once when a user login is connected: what it bridges, and what not.
USER_LOGIN_SCOPE = (
    "Your DMs and group DMs are bridged through this login: each gets its own room "
    "when a message arrives. Your servers are not bridged through a user login; "
    "servers are bridged through a bot login (`login bot`)."
)

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
    """One step: the bot token, checked against Discord before it is accepted.
    ``user_login`` says whether user tokens may be used (``login user``), for the
    answer to someone who pastes their own account's token here."""

    def __init__(self, user_login: bool = False) -> None:
        self.user_login = user_login

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
            if await _is_user_token(token):
                raise LoginError(self._user_token_answer()) from None
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

    def _user_token_answer(self) -> str:
        if self.user_login:
            return (
                "That is the token of a user account, not of a bot. To log in with your "
                "own account, send `cancel`, then `login user`."
            )
        return "That is the token of a user account, not of a bot. " + USER_LOGIN_OFF


async def _is_user_token(token: str) -> bool:
    """Whether Discord takes ``token`` as a user account's (without the Bot prefix)."""
    rest = UserREST(Endpoints.current().api_base, token)
    try:
        return not (await asyncio.wait_for(rest.me(), 30)).bot
    except (TokenRefused, DiscordHTTPError, aiohttp.ClientError, OSError, TimeoutError):
        return False
    finally:
        await rest.close()


class UserLoginOff(LoginProcess):
    """``login user`` on a bridge whose operator did not allow user tokens."""

    async def start(self) -> LoginStep:
        raise LoginError(USER_LOGIN_OFF, fatal=True)


class UserTokenLogin(LoginProcess, UserInputLogin):
    """One step after a warning: the token of the person's own account, checked with
    ``GET /users/@me`` (bare token). The login's metadata says ``kind: user``."""

    def __init__(self, api_base: str) -> None:
        self.api_base = api_base

    async def start(self) -> LoginStep:
        return LoginStep.user_input(
            "token",
            f"{USER_TOKEN_WARNING}\n\nA user login bridges your DMs and group DMs; your "
            "servers are not bridged through it. Copy your token from Discord (in the "
            "browser's developer tools, the `Authorization` header of a request to "
            "discord.com/api).",
            InputField(
                "token",
                "user token",
                InputFieldType.PASSWORD,
                description="it is never shown or logged",
                pattern=r"[A-Za-z0-9_.\-]{20,200}",
            ),
        )

    async def submit_user_input(self, values: dict[str, str]) -> LoginStep:
        token = values["token"].strip()
        rest = UserREST(self.api_base, token)
        try:
            me = await asyncio.wait_for(rest.me(), 30)
        except TokenRefused:
            raise LoginError(USER_TOKEN_REFUSED) from None
        except (DiscordHTTPError, aiohttp.ClientError, OSError, TimeoutError) as e:
            log.warning("Could not check a user token: %s", type(e).__name__)
            raise LoginError("Could not reach Discord to check the token. Try again.") from None
        finally:
            await rest.close()
        if me.bot:
            raise LoginError(
                "That is a bot token. Send `cancel`, then `login bot` to log in with a bot."
            )
        log.info("User account %s (%s) logged in", me.username, me.id)
        return LoginStep.done(LoginID(str(me.id)), me.username, {"kind": "user", "token": token})
