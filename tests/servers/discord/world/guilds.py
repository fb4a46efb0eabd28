"""Guilds and what belongs to them: roles, members, custom emoji, stickers.

Every change that a connected client would hear about emits the matching dispatch
(GUILD_CREATE, GUILD_UPDATE, GUILD_ROLE_*, GUILD_MEMBER_*, GUILD_EMOJIS_UPDATE...).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import wire
from ..entities import Account, Emoji, Guild, Member, Role, Sticker
from ..events import Event
from ..protocol import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    Intents,
    StickerFormat,
)
from .accounts import AccountOps, image_hash
from .state import UNSET, ref_id


class GuildOps(AccountOps):
    """World operations on guilds, roles, members, emoji and stickers."""

    # -- guilds, roles, members -------------------------------------------------------

    def create_guild(
        self,
        name: str,
        *,
        owner: Account,
        icon: bytes | None = None,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        description: str | None = None,
    ) -> Guild:
        """Create a guild owned (and joined) by ``owner``, with an @everyone role."""
        gid = self.ids.next()
        guild = Guild(
            id=gid,
            name=name,
            owner_id=owner.id,
            icon=image_hash(icon) if icon else None,
            icon_image=icon,
            description=description,
        )
        guild.roles[gid] = Role(
            id=gid, guild_id=gid, name="@everyone", permissions=everyone_permissions
        )
        self.guilds[gid] = guild
        self.add_member(guild, owner)
        return guild

    def update_guild(
        self,
        guild: Guild,
        *,
        name: Any = UNSET,
        icon: Any = UNSET,
        description: Any = UNSET,
        system_channel: Any = UNSET,
    ) -> None:
        """Change guild settings and dispatch GUILD_UPDATE."""
        if name is not UNSET:
            guild.name = name
        if icon is not UNSET:
            guild.icon_image = icon
            guild.icon = image_hash(icon) if icon else None
        if description is not UNSET:
            guild.description = description
        if system_channel is not UNSET:
            guild.system_channel_id = ref_id(system_channel) if system_channel else None
        self.emit(
            Event("GUILD_UPDATE", wire.guild(self, guild), intent=Intents.GUILDS, guild_id=guild.id)
        )

    def create_role(
        self,
        guild: Guild,
        name: str,
        *,
        permissions: int = 0,
        color: int = 0,
        hoist: bool = False,
        mentionable: bool = False,
    ) -> Role:
        """Add a role (above the existing ones) and dispatch GUILD_ROLE_CREATE."""
        role = Role(
            id=self.ids.next(),
            guild_id=guild.id,
            name=name,
            permissions=int(permissions),
            color=color,
            position=len(guild.roles),
            hoist=hoist,
            mentionable=mentionable,
        )
        guild.roles[role.id] = role
        self._emit_role("GUILD_ROLE_CREATE", role)
        return role

    def update_role(
        self,
        role: Role,
        *,
        name: Any = UNSET,
        permissions: Any = UNSET,
        color: Any = UNSET,
        hoist: Any = UNSET,
        mentionable: Any = UNSET,
    ) -> None:
        """Change a role and dispatch GUILD_ROLE_UPDATE."""
        for attr, value in (
            ("name", name),
            ("permissions", permissions),
            ("color", color),
            ("hoist", hoist),
            ("mentionable", mentionable),
        ):
            if value is not UNSET:
                setattr(role, attr, int(value) if attr == "permissions" else value)
        self._emit_role("GUILD_ROLE_UPDATE", role)

    def delete_role(self, role: Role) -> None:
        """Remove a role from the guild and its members; dispatch GUILD_ROLE_DELETE."""
        guild = self.guild(role.guild_id)
        guild.roles.pop(role.id, None)
        for member in guild.members.values():
            if role.id in member.roles:
                member.roles.remove(role.id)
        payload = {"guild_id": str(guild.id), "role_id": str(role.id)}
        self.emit(Event("GUILD_ROLE_DELETE", payload, intent=Intents.GUILDS, guild_id=guild.id))

    def _emit_role(self, name: str, role: Role) -> None:
        payload = {"guild_id": str(role.guild_id), "role": wire.role(role)}
        self.emit(Event(name, payload, intent=Intents.GUILDS, guild_id=role.guild_id))

    def add_member(
        self,
        guild: Guild,
        account: Account,
        *,
        roles: Iterable[Role] = (),
        nick: str | None = None,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
    ) -> Member:
        """Make ``account`` join ``guild``.

        A bot joins the way an OAuth2 invite adds it: with a managed role named after the
        application holding ``bot_permissions``. The guild's members get
        GUILD_MEMBER_ADD; the joining account's sessions get GUILD_CREATE.
        """
        role_ids = [r.id for r in roles]
        if account.bot:
            app = self.application_of(account)
            managed = Role(
                id=self.ids.next(),
                guild_id=guild.id,
                name=app.name if app else account.username,
                permissions=int(bot_permissions),
                position=len(guild.roles),
                managed=True,
                bot_id=account.id,
            )
            guild.roles[managed.id] = managed
            self._emit_role("GUILD_ROLE_CREATE", managed)
            role_ids.append(managed.id)
        member = Member(user_id=account.id, guild_id=guild.id, roles=role_ids, nick=nick)
        guild.members[account.id] = member
        payload = wire.member(self, member)
        payload["guild_id"] = str(guild.id)
        others = frozenset(uid for uid in guild.members if uid != account.id)
        self.emit(
            Event(
                "GUILD_MEMBER_ADD",
                payload,
                intent=Intents.GUILD_MEMBERS,
                guild_id=guild.id,
                audience=others,
            )
        )
        self.emit(
            Event(
                "GUILD_CREATE",
                lambda receiver, intents: wire.guild_create(
                    self, guild, receiver, intents, joined=True
                ),
                intent=Intents.GUILDS,
                guild_id=guild.id,
                audience=frozenset({account.id}),
            )
        )
        return member

    def update_member(
        self,
        guild: Guild,
        account: Account,
        *,
        nick: Any = UNSET,
        roles: Any = UNSET,
    ) -> Member:
        """Change a member's nickname or roles and dispatch GUILD_MEMBER_UPDATE."""
        member = guild.members[account.id]
        if nick is not UNSET:
            member.nick = nick
        if roles is not UNSET:
            managed = [r for r in member.roles if guild.roles.get(r) and guild.roles[r].managed]
            member.roles = managed + [r.id for r in roles if r.id not in managed]
        self._emit_member_update(guild, member)
        return member

    def update_user(
        self,
        account: Account,
        *,
        username: Any = UNSET,
        global_name: Any = UNSET,
        avatar: Any = UNSET,
    ) -> None:
        """Change a user's profile: USER_UPDATE to itself, GUILD_MEMBER_UPDATE in guilds."""
        if username is not UNSET:
            account.username = username
        if global_name is not UNSET:
            account.global_name = global_name
        if avatar is not UNSET:
            account.avatar_image = avatar
            account.avatar = image_hash(avatar) if avatar else None
        self.emit(
            Event("USER_UPDATE", wire.current_user(account), audience=frozenset({account.id}))
        )
        for guild in self.guilds_of(account):
            self._emit_member_update(guild, guild.members[account.id])

    def _emit_member_update(self, guild: Guild, member: Member) -> None:
        payload = wire.member(self, member)
        payload["guild_id"] = str(guild.id)
        self.emit(
            Event("GUILD_MEMBER_UPDATE", payload, intent=Intents.GUILD_MEMBERS, guild_id=guild.id)
        )

    def remove_member(self, guild: Guild, account: Account) -> None:
        """Kick ``account``: GUILD_MEMBER_REMOVE to the rest, GUILD_DELETE to it."""
        member = guild.members.pop(account.id)
        for role_id in list(member.roles):
            role = guild.roles.get(role_id)
            if role is not None and role.managed and role.bot_id == account.id:
                guild.roles.pop(role_id)
        payload = {"guild_id": str(guild.id), "user": wire.user(account)}
        self.emit(
            Event("GUILD_MEMBER_REMOVE", payload, intent=Intents.GUILD_MEMBERS, guild_id=guild.id)
        )
        self.emit(
            Event(
                "GUILD_DELETE",
                {"id": str(guild.id)},
                intent=Intents.GUILDS,
                guild_id=guild.id,
                audience=frozenset({account.id}),
            )
        )

    # -- emoji, stickers, webhooks ----------------------------------------------------

    def create_emoji(
        self,
        guild: Guild,
        name: str,
        image: bytes,
        *,
        animated: bool = False,
        creator: Account | None = None,
    ) -> Emoji:
        """Upload a custom emoji and dispatch GUILD_EMOJIS_UPDATE."""
        emoji = Emoji(
            id=self.ids.next(),
            guild_id=guild.id,
            name=name,
            animated=animated,
            image=image,
            creator_id=creator.id if creator else None,
        )
        guild.emojis[emoji.id] = emoji
        payload = {
            "guild_id": str(guild.id),
            "emojis": [wire.emoji(e) for e in guild.emojis.values()],
        }
        self.emit(
            Event(
                "GUILD_EMOJIS_UPDATE", payload, intent=Intents.GUILD_EXPRESSIONS, guild_id=guild.id
            )
        )
        return emoji

    def create_sticker(
        self,
        name: str,
        data: bytes,
        *,
        format_type: StickerFormat = StickerFormat.PNG,
        guild: Guild | None = None,
        description: str = "",
        tags: str = "",
    ) -> Sticker:
        """Create a guild sticker (GUILD_STICKERS_UPDATE) or, without ``guild``, a
        standard sticker. Lottie stickers are ``StickerFormat.LOTTIE`` with JSON data."""
        sticker = Sticker(
            id=self.ids.next(),
            name=name,
            format_type=format_type,
            data=data,
            guild_id=guild.id if guild else None,
            description=description,
            tags=tags,
        )
        if guild is None:
            self.standard_stickers[sticker.id] = sticker
            return sticker
        guild.stickers[sticker.id] = sticker
        payload = {
            "guild_id": str(guild.id),
            "stickers": [wire.sticker(s) for s in guild.stickers.values()],
        }
        self.emit(
            Event(
                "GUILD_STICKERS_UPDATE",
                payload,
                intent=Intents.GUILD_EXPRESSIONS,
                guild_id=guild.id,
            )
        )
        return sticker
