"""``users.*``, ``contacts.*`` and presence: finding people and what they look like."""

from __future__ import annotations

from typing import Any

from telethon.tl import functions, types

from .. import render
from ..rpc import RpcContext, RpcError, Vector, bad_request, method
from ..world import Channel, User


@method(functions.users.GetUsersRequest)
async def get_users(ctx: RpcContext, request: Any) -> Vector:
    viewer = ctx.user
    out = []
    for input_user in request.id:
        try:
            out.append(render.user(ctx.world.input_user(viewer, input_user), viewer))
        except RpcError:
            out.append(types.UserEmpty(id=getattr(input_user, "user_id", 0)))
    return Vector(out)


@method(functions.users.GetFullUserRequest)
async def get_full_user(ctx: RpcContext, request: Any) -> Any:
    viewer = ctx.user
    target = ctx.world.input_user(viewer, request.id)
    common = sum(1 for ch in ctx.world.channels_of(viewer) if target.id in ch.members) + sum(
        1 for g in ctx.world.groups_of(viewer) if target.id in g.members
    )
    full = types.UserFull(
        id=target.id,
        settings=types.PeerSettings(),
        notify_settings=types.PeerNotifySettings(),
        common_chats_count=common,
        about=target.about or None,
        profile_photo=render.photo_of(target.photo) if target.photo else None,
        bot_info=(
            types.BotInfo(user_id=target.id, description=target.about, commands=[])
            if target.bot
            else None
        ),
    )
    return types.users.UserFull(full_user=full, chats=[], users=[render.user(target, viewer)])


def _resolved(ctx: RpcContext, entity: User | Channel) -> Any:
    viewer = ctx.user
    users, chats = render.entities_for(ctx.world, viewer, [], [entity])
    return types.contacts.ResolvedPeer(peer=render.peer_of(entity), chats=chats, users=users)


@method(functions.contacts.ResolveUsernameRequest)
async def resolve_username(ctx: RpcContext, request: Any) -> Any:
    if not request.username or len(request.username) < 4:
        raise bad_request("USERNAME_INVALID")
    entity = ctx.world.resolve_username(request.username)
    if entity is None:
        raise bad_request("USERNAME_NOT_OCCUPIED")
    return _resolved(ctx, entity)


@method(functions.contacts.ResolvePhoneRequest)
async def resolve_phone(ctx: RpcContext, request: Any) -> Any:
    user = ctx.world.user_by_phone(request.phone)
    if user is None:
        raise bad_request("PHONE_NOT_OCCUPIED")
    return _resolved(ctx, user)


@method(functions.contacts.SearchRequest)
async def search(ctx: RpcContext, request: Any) -> Any:
    viewer = ctx.user
    query = request.q.lower().lstrip("@")
    if len(query) < 1:
        raise bad_request("QUERY_TOO_SHORT")
    mine: list[Any] = []
    others: list[Any] = []
    matched: list[User | Channel] = []
    candidates: list[User | Channel] = [*ctx.world.users.values(), *ctx.world.channels.values()]
    for entity in candidates:
        names = [entity.username or ""]
        names.append(entity.display_name if isinstance(entity, User) else entity.title)
        if entity is viewer or not any(query in n.lower() for n in names if n):
            continue
        if isinstance(entity, Channel) and not entity.username and viewer.id not in entity.members:
            continue
        is_mine = entity.id in viewer.contacts or (
            isinstance(entity, Channel) and viewer.id in entity.members
        )
        (mine if is_mine else others).append(render.peer_of(entity))
        matched.append(entity)
        if len(matched) >= request.limit:
            break
    users, chats = render.entities_for(ctx.world, viewer, [], matched)
    return types.contacts.Found(my_results=mine, results=others, chats=chats, users=users)


@method(functions.contacts.GetContactsRequest)
async def get_contacts(ctx: RpcContext, request: Any) -> Any:
    viewer = ctx.user
    contacts = [ctx.world.users[uid] for uid in sorted(viewer.contacts)]
    return types.contacts.Contacts(
        contacts=[types.Contact(user_id=c.id, mutual=viewer.id in c.contacts) for c in contacts],
        saved_count=0,
        users=[render.user(c, viewer) for c in contacts],
    )


@method(functions.contacts.ImportContactsRequest)
async def import_contacts(ctx: RpcContext, request: Any) -> Any:
    viewer = ctx.user
    imported = []
    users = []
    for contact in request.contacts:
        user = ctx.world.user_by_phone(contact.phone)
        if user is None:
            continue
        viewer.contacts.add(user.id)
        imported.append(types.ImportedContact(user_id=user.id, client_id=contact.client_id))
        users.append(render.user(user, viewer))
    return types.contacts.ImportedContacts(
        imported=imported, popular_invites=[], retry_contacts=[], users=users
    )


@method(functions.account.UpdateStatusRequest)
async def update_status(ctx: RpcContext, request: Any) -> bool:
    ctx.server.set_online(ctx.user, not request.offline)
    return True
