"""User-token logins: a person's own Discord account, for their DMs and group DMs.

Off unless the operator sets ``user_login: true`` (Discord's terms forbid automating
user accounts). Layout: ``client`` (the ``NetworkClient``), ``events`` (gateway
events → remote events), ``to_matrix`` / ``from_matrix`` (conversion each way,
reusing the guild bridge's formatting), ``backfill`` (missed DM messages),
``echoes`` (the bridge's own changes coming back). The Discord protocol itself is in
``..useraccount``.
"""

from __future__ import annotations

from .client import UserLoginClient

__all__ = ["UserLoginClient"]
