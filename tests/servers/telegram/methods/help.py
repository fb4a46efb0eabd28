"""``help.*``: the config that points clients back at this server's DCs."""

from __future__ import annotations

from typing import Any

from telethon.tl import functions, types

from ..render import ts
from ..rpc import RpcContext, method
from ..world import now


@method(functions.help.GetConfigRequest, needs_auth=False)
async def get_config(ctx: RpcContext, request: Any) -> Any:
    server = ctx.server
    dc_options = [
        types.DcOption(id=dc_id, ip_address=server.host, port=port)
        for dc_id, port in server.ports.items()
    ]
    return types.Config(
        date=ts(now()),
        expires=ts(now() + 3600),
        test_mode=False,
        this_dc=ctx.connection.dc_id,
        dc_options=dc_options,
        dc_txt_domain_name="",
        chat_size_max=200,
        megagroup_size_max=200000,
        forwarded_count_max=100,
        online_update_period_ms=210000,
        offline_blur_timeout_ms=5000,
        offline_idle_timeout_ms=30000,
        online_cloud_timeout_ms=300000,
        notify_cloud_delay_ms=30000,
        notify_default_delay_ms=1500,
        push_chat_period_ms=60000,
        push_chat_limit=2,
        edit_time_limit=172800,
        revoke_time_limit=2147483647,
        revoke_pm_time_limit=2147483647,
        rating_e_decay=2419200,
        stickers_recent_limit=200,
        channels_read_media_period=604800,
        call_receive_timeout_ms=20000,
        call_ring_timeout_ms=90000,
        call_connect_timeout_ms=30000,
        call_packet_timeout_ms=10000,
        me_url_prefix="https://t.me/",
        caption_length_max=1024,
        message_length_max=4096,
        webfile_dc_id=server.default_dc,
    )


@method(functions.help.GetNearestDcRequest, needs_auth=False)
async def get_nearest_dc(ctx: RpcContext, request: Any) -> Any:
    dc_id = ctx.connection.dc_id
    return types.NearestDc(country="US", this_dc=dc_id, nearest_dc=dc_id)
