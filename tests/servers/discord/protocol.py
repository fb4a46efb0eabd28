"""Wire-level constants of Discord API v10: opcodes, close codes, intents, permissions.

Values are those of the public API documentation; names follow it so a reader can look
any of them up there.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag


class OpCode(IntEnum):
    """Gateway opcodes (the ``op`` field of every gateway frame)."""

    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE_UPDATE = 3
    VOICE_STATE_UPDATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_GUILD_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


class CloseCode(IntEnum):
    """Gateway close codes. Clients must not reconnect after 4004 and 4010-4014."""

    UNKNOWN_ERROR = 4000
    UNKNOWN_OPCODE = 4001
    DECODE_ERROR = 4002
    NOT_AUTHENTICATED = 4003
    AUTHENTICATION_FAILED = 4004
    ALREADY_AUTHENTICATED = 4005
    INVALID_SEQ = 4007
    RATE_LIMITED = 4008
    SESSION_TIMED_OUT = 4009
    INVALID_SHARD = 4010
    SHARDING_REQUIRED = 4011
    INVALID_API_VERSION = 4012
    INVALID_INTENTS = 4013
    DISALLOWED_INTENTS = 4014


class Intents(IntFlag):
    """Gateway intents: which event groups a session asked for."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MODERATION = 1 << 2
    GUILD_EXPRESSIONS = 1 << 3
    GUILD_INTEGRATIONS = 1 << 4
    GUILD_WEBHOOKS = 1 << 5
    GUILD_INVITES = 1 << 6
    GUILD_VOICE_STATES = 1 << 7
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    GUILD_MESSAGE_TYPING = 1 << 11
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    DIRECT_MESSAGE_TYPING = 1 << 14
    MESSAGE_CONTENT = 1 << 15
    GUILD_SCHEDULED_EVENTS = 1 << 16
    AUTO_MODERATION_CONFIGURATION = 1 << 20
    AUTO_MODERATION_EXECUTION = 1 << 21
    GUILD_MESSAGE_POLLS = 1 << 24
    DIRECT_MESSAGE_POLLS = 1 << 25


ALL_INTENTS = 0
for _intent in Intents:
    ALL_INTENTS |= int(_intent)
PRIVILEGED_INTENTS = int(Intents.GUILD_MEMBERS | Intents.GUILD_PRESENCES | Intents.MESSAGE_CONTENT)


class ApplicationFlags(IntFlag):
    """Application flags; the GATEWAY_* ones say which privileged intents are enabled."""

    GATEWAY_PRESENCE = 1 << 12
    GATEWAY_PRESENCE_LIMITED = 1 << 13
    GATEWAY_GUILD_MEMBERS = 1 << 14
    GATEWAY_GUILD_MEMBERS_LIMITED = 1 << 15
    GATEWAY_MESSAGE_CONTENT = 1 << 18
    GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 19


def application_flags_for(privileged_intents: int) -> int:
    """Return the application flags that advertise ``privileged_intents`` as enabled."""
    flags = 0
    if privileged_intents & Intents.GUILD_PRESENCES:
        flags |= ApplicationFlags.GATEWAY_PRESENCE
    if privileged_intents & Intents.GUILD_MEMBERS:
        flags |= ApplicationFlags.GATEWAY_GUILD_MEMBERS
    if privileged_intents & Intents.MESSAGE_CONTENT:
        flags |= ApplicationFlags.GATEWAY_MESSAGE_CONTENT
    return int(flags)


class Permissions(IntFlag):
    """Guild/channel permission bits (serialised as decimal strings on the wire)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    MANAGE_GUILD_EXPRESSIONS = 1 << 30
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    USE_EXTERNAL_STICKERS = 1 << 37
    SEND_MESSAGES_IN_THREADS = 1 << 38


ALL_PERMISSIONS = (1 << 51) - 1

#: What a fresh guild's @everyone role may do (roughly Discord's default).
DEFAULT_EVERYONE_PERMISSIONS = int(
    Permissions.CREATE_INSTANT_INVITE
    | Permissions.ADD_REACTIONS
    | Permissions.VIEW_CHANNEL
    | Permissions.SEND_MESSAGES
    | Permissions.EMBED_LINKS
    | Permissions.ATTACH_FILES
    | Permissions.READ_MESSAGE_HISTORY
    | Permissions.USE_EXTERNAL_EMOJIS
    | Permissions.CHANGE_NICKNAME
    | Permissions.CREATE_PUBLIC_THREADS
    | Permissions.CREATE_PRIVATE_THREADS
    | Permissions.USE_EXTERNAL_STICKERS
    | Permissions.SEND_MESSAGES_IN_THREADS
)

#: What a bridge bot is typically invited with; the default for ``add_member`` of a bot.
DEFAULT_BOT_PERMISSIONS = int(
    DEFAULT_EVERYONE_PERMISSIONS
    | Permissions.MANAGE_MESSAGES
    | Permissions.MANAGE_WEBHOOKS
    | Permissions.MANAGE_THREADS
    | Permissions.MENTION_EVERYONE
)


class ChannelType(IntEnum):
    """Channel types."""

    GUILD_TEXT = 0
    DM = 1
    GUILD_VOICE = 2
    GROUP_DM = 3
    GUILD_CATEGORY = 4
    GUILD_ANNOUNCEMENT = 5
    ANNOUNCEMENT_THREAD = 10
    PUBLIC_THREAD = 11
    PRIVATE_THREAD = 12
    GUILD_FORUM = 15


THREAD_TYPES = frozenset(
    {ChannelType.ANNOUNCEMENT_THREAD, ChannelType.PUBLIC_THREAD, ChannelType.PRIVATE_THREAD}
)
PRIVATE_TYPES = frozenset({ChannelType.DM, ChannelType.GROUP_DM})


class MessageType(IntEnum):
    """Message types the server produces."""

    DEFAULT = 0
    CHANNEL_NAME_CHANGE = 4
    THREAD_CREATED = 18
    REPLY = 19
    THREAD_STARTER_MESSAGE = 21


class StickerFormat(IntEnum):
    """Sticker file formats; LOTTIE stickers are JSON animations."""

    PNG = 1
    APNG = 2
    LOTTIE = 3
    GIF = 4


STICKER_EXTENSIONS = {
    StickerFormat.PNG: "png",
    StickerFormat.APNG: "png",
    StickerFormat.LOTTIE: "json",
    StickerFormat.GIF: "gif",
}


class ErrorCode(IntEnum):
    """JSON error codes of REST error bodies (``{"message": ..., "code": ...}``)."""

    GENERAL = 0
    UNKNOWN_CHANNEL = 10003
    UNKNOWN_GUILD = 10004
    UNKNOWN_MEMBER = 10007
    UNKNOWN_MESSAGE = 10008
    UNKNOWN_ROLE = 10011
    UNKNOWN_USER = 10013
    UNKNOWN_EMOJI = 10014
    UNKNOWN_WEBHOOK = 10015
    UNKNOWN_STICKER = 10060
    REQUEST_TOO_LARGE = 40005
    MISSING_ACCESS = 50001
    CANNOT_EDIT_OTHERS_MESSAGE = 50005
    EMPTY_MESSAGE = 50006
    CANNOT_MESSAGE_USER = 50007
    MISSING_PERMISSIONS = 50013
    INVALID_TOKEN = 50014
    BULK_DELETE_TOO_OLD = 50034
    INVALID_FORM_BODY = 50035
    THREAD_ALREADY_CREATED = 160004


class GatewayEventIntent:
    """Which intent gates which dispatch, split by guild vs direct-message context."""

    MESSAGES = (Intents.GUILD_MESSAGES, Intents.DIRECT_MESSAGES)
    REACTIONS = (Intents.GUILD_MESSAGE_REACTIONS, Intents.DIRECT_MESSAGE_REACTIONS)
    TYPING = (Intents.GUILD_MESSAGE_TYPING, Intents.DIRECT_MESSAGE_TYPING)
