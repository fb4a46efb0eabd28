"""User accounts (the bare token, no ``Bot`` prefix): their DMs and group DMs over
REST, group DM creation, group DM icons on the CDN, and IDENTIFY as a user with READY
carrying ``private_channels`` — and what bots are still refused."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from . import ChannelType, DiscordTestServer
from .conftest import Scene
from .rest.cdn import tiny_png

JSON = dict[str, Any]


async def _frame(ws: aiohttp.ClientWebSocketResponse) -> JSON:
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    frame: JSON = json.loads(msg.data)
    return frame


async def test_users_list_their_dms_and_group_dms_and_bots_get_none(
    server: DiscordTestServer, scene: Scene
) -> None:
    dm = server.create_dm(scene.alice, scene.bob)
    icon = tiny_png((200, 0, 0))
    group = server.create_group_dm(scene.alice, [scene.bob], name="Plans", icon=icon)
    server.create_dm(scene.bot, scene.bob)  # not one of alice's
    url = f"{server.api_url}/users/@me/channels"
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"Authorization": scene.alice.token}) as r:
            assert r.status == 200
            listed = {c["id"]: c for c in await r.json()}
        async with session.get(url, headers={"Authorization": f"Bot {scene.bot.token}"}) as r:
            assert r.status == 200 and await r.json() == [], "bots cannot list their DMs"
        async with session.get(url, headers={"Authorization": f"Bot {scene.alice.token}"}) as r:
            assert r.status == 401, "a user token with the Bot prefix is refused"
        icon_url = f"{server.base_url}/channel-icons/{group.id}/{group.icon}.png"
        async with session.get(icon_url) as r:
            assert r.status == 200 and await r.read() == icon
    assert set(listed) == {str(dm.id), str(group.id)}
    assert listed[str(dm.id)]["type"] == ChannelType.DM
    assert {u["id"] for u in listed[str(dm.id)]["recipients"]} == {
        str(scene.alice.id),
        str(scene.bob.id),
    }
    assert listed[str(group.id)]["type"] == ChannelType.GROUP_DM
    assert listed[str(group.id)]["name"] == "Plans"
    assert listed[str(group.id)]["owner_id"] == str(scene.alice.id)


async def test_only_user_accounts_create_and_join_group_dms(
    server: DiscordTestServer, scene: Scene
) -> None:
    carol = server.create_user("carol")
    url = f"{server.api_url}/users/@me/channels"
    async with aiohttp.ClientSession() as session:
        body = {"recipients": [str(scene.bob.id), str(carol.id)]}
        async with session.post(url, json=body, headers={"Authorization": scene.alice.token}) as r:
            assert r.status == 200
            created = await r.json()
        async with session.post(
            url, json=body, headers={"Authorization": f"Bot {scene.bot.token}"}
        ) as r:
            assert r.status == 403 and (await r.json())["code"] == 50001
        with_bot = {"recipients": [str(scene.bot.id)]}
        async with session.post(
            url, json=with_bot, headers={"Authorization": scene.alice.token}
        ) as r:
            assert r.status == 400
    group = server.channel(int(created["id"]))
    assert group.type == ChannelType.GROUP_DM
    assert group.recipients == [scene.alice.id, scene.bob.id, carol.id]
    with pytest.raises(ValueError, match="bots"):
        server.create_group_dm(scene.alice, [scene.bot])


async def test_user_identify_gets_private_channels_and_dm_events(
    server: DiscordTestServer, scene: Scene
) -> None:
    dm = server.create_dm(scene.alice, scene.bob)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{server.gateway_url}?v=10&encoding=json") as ws:
            assert (await _frame(ws))["op"] == 10
            properties = {"os": "Linux", "browser": "Chrome", "device": ""}
            await ws.send_json(
                {"op": 2, "d": {"token": scene.alice.token, "properties": properties}}
            )
            ready = await _frame(ws)
            assert ready["t"] == "READY"
            assert [c["id"] for c in ready["d"]["private_channels"]] == [str(dm.id)]
            group = server.create_group_dm(scene.bob, [scene.alice], name="Plans")
            server.send_message(scene.bob, group, "in the group")
            seen: list[JSON] = []
            while len([f for f in seen if f.get("t") in ("CHANNEL_CREATE", "MESSAGE_CREATE")]) < 2:
                seen.append(await _frame(ws))
    created = next(f for f in seen if f["t"] == "CHANNEL_CREATE")
    assert created["d"]["id"] == str(group.id) and created["d"]["name"] == "Plans"
    message = next(f for f in seen if f["t"] == "MESSAGE_CREATE")
    assert message["d"]["content"] == "in the group" and "guild_id" not in message["d"]
    [identify] = server.gateway.records_of("identify", scene.alice)
    assert identify.properties == properties
