"""How IRC things are named for the core: logins, portals and remote users.

Every ID starts with the network's ID, so one bridge can serve many networks. Nicks
and channel names are folded with the server's CASEMAPPING first, so ``Bob`` and
``bob`` are one ghost and ``#Chat`` and ``#chat`` one portal. Network IDs contain
neither ``_`` nor ``/`` (the config checks), so the first one of those in an ID
always ends the network's part.

- login: ``<network>/<nick>`` (the nick the user logged in with)
- portal: ``<network>/<#channel or nick>``, received by the login (bouncer mode), or
  without a receiver for a channel of a network in operator mode (shared portals)
- remote user: ``<network>_<nick>``, whose ghost is ``@irc_<network>__<nick>`` (the
  core escapes ``_`` in remote IDs as ``__``)
- message: the server's msgid, or a made-up ``local:…`` ID when it sent none
"""

from __future__ import annotations

import uuid

from bridgekit.network import LoginID, MessageID, PortalID, PortalKey, RemoteUserID

# Message IDs that the bridge made up (the server sent no msgid) start with this.
_LOCAL_PREFIX = "local:"


def login_id(network: str, folded_nick: str) -> LoginID:
    """The login of ``folded_nick`` on ``network``."""
    return LoginID(f"{network}/{folded_nick}")


def user_id(network: str, folded_nick: str) -> RemoteUserID:
    """The remote user (ghost) of ``folded_nick`` on ``network``."""
    return RemoteUserID(f"{network}_{folded_nick}")


def nick_of(network: str, remote_user: str) -> str | None:
    """The folded nick of a remote user of ``network``, or ``None`` if it is not one."""
    prefix = f"{network}_"
    return remote_user[len(prefix) :] if remote_user.startswith(prefix) else None


def portal_key(network: str, folded_target: str, receiver: LoginID | None) -> PortalKey:
    """The portal of a channel or private chat (``folded_target`` is the channel name
    or the other person's nick) in ``receiver``'s bouncer, or shared by everyone
    (``receiver`` ``None``: a channel in operator mode)."""
    return PortalKey(PortalID(f"{network}/{folded_target}"), receiver)


def target_of(network: str, portal: PortalKey) -> str | None:
    """The folded channel name or nick of a portal of ``network``."""
    prefix = f"{network}/"
    return portal.id[len(prefix) :] if portal.id.startswith(prefix) else None


def local_message_id() -> MessageID:
    """A unique ID for a message the server gave no msgid."""
    return MessageID(f"{_LOCAL_PREFIX}{uuid.uuid4().hex}")


def is_local(message_id: str) -> bool:
    """Whether ``message_id`` was made up by the bridge (no other client knows it)."""
    return message_id.startswith(_LOCAL_PREFIX)
