"""``updates.*``: state and difference, the way clients catch up after being away."""

from __future__ import annotations

from typing import Any

from telethon.tl import functions

from .. import render
from ..rpc import RpcContext, method


@method(functions.updates.GetStateRequest)
async def get_state(ctx: RpcContext, request: Any) -> Any:
    return ctx.server.hub.state(ctx.user)


@method(functions.updates.GetDifferenceRequest)
async def get_difference(ctx: RpcContext, request: Any) -> Any:
    return ctx.server.hub.difference(ctx.user, request.pts, render.seconds(request.date))


@method(functions.updates.GetChannelDifferenceRequest)
async def get_channel_difference(ctx: RpcContext, request: Any) -> Any:
    user = ctx.user
    channel = ctx.world.input_channel(user, request.channel)
    return ctx.server.hub.channel_difference(user, channel, request.pts, request.limit)
