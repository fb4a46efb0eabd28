"""Accounts and applications: users, bots and their tokens, profiles, presence.

Every change that a connected client would hear about emits the matching dispatch.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from .. import wire
from ..entities import Account, Application
from ..events import Disconnect, Event
from ..protocol import CloseCode, Intents
from .state import WorldState


def image_hash(image: bytes) -> str:
    """The asset hash Discord would give an uploaded image (stable per content)."""
    return hashlib.md5(image, usedforsecurity=False).hexdigest()


class AccountOps(WorldState):
    """World operations on accounts and applications."""

    # -- accounts and applications ----------------------------------------------------

    def create_user(
        self,
        username: str,
        *,
        global_name: str | None = None,
        avatar: bytes | None = None,
        bot: bool = False,
    ) -> Account:
        """Create a (human) account; its ``token`` logs in as a user account."""
        uid = self.ids.next()
        account = Account(
            id=uid,
            username=username,
            token=self._mint_token(uid),
            bot=bot,
            global_name=global_name,
            avatar=image_hash(avatar) if avatar else None,
            avatar_image=avatar,
        )
        self.accounts[uid] = account
        self._register_token(account)
        return account

    def create_application(
        self,
        name: str,
        *,
        owner: Account | None = None,
        privileged_intents: int = 0,
        bot_username: str | None = None,
    ) -> Application:
        """Create an application with its bot user (``world.bot_of(app).token``).

        ``privileged_intents`` are the privileged intents enabled in the developer
        portal (e.g. ``Intents.MESSAGE_CONTENT | Intents.GUILD_MEMBERS``).
        """
        if owner is None:
            owner = self.create_user(f"{name.lower().replace(' ', '_')}_owner")
        bot = self.create_user(bot_username or name, bot=True)
        app = Application(
            id=bot.id,
            name=name,
            owner_id=owner.id,
            bot_id=bot.id,
            privileged_intents=int(privileged_intents),
            verify_key=secrets.token_hex(32),
        )
        bot.application_id = app.id
        self.applications[app.id] = app
        return app

    def set_privileged_intents(self, app: Application, intents: int) -> None:
        """Switch the privileged intents of ``app`` (takes effect at the next IDENTIFY)."""
        app.privileged_intents = int(intents)

    def reset_token(self, account: Account) -> str:
        """Give ``account`` a new token; the old one stops working and its gateway
        sessions are closed with 4004, as when a token is reset (or leaked) on Discord."""
        self._tokens.pop(account.token, None)
        account.token = self._mint_token(account.id)
        self._register_token(account)
        self.emit(Disconnect(account.id, CloseCode.AUTHENTICATION_FAILED, "token reset"))
        return account.token

    def set_presence(
        self,
        account: Account,
        status: str,
        *,
        activities: list[dict[str, Any]] | None = None,
        client_status: dict[str, str] | None = None,
    ) -> None:
        """Set ``account``'s presence; PRESENCE_UPDATE goes to each shared guild."""
        account.presence.status = status
        account.presence.activities = list(activities or [])
        if client_status is None:
            client_status = {} if status == "offline" else {"desktop": status}
        account.presence.client_status = dict(client_status)
        for guild in self.guilds_of(account):
            self.emit(
                Event(
                    "PRESENCE_UPDATE",
                    wire.presence(account, guild.id),
                    intent=Intents.GUILD_PRESENCES,
                    guild_id=guild.id,
                )
            )
