"""Wire-level details checked with plain aiohttp: REST headers, error bodies, auth
forms, upload limits, CDN signatures, nonces, and the raw gateway protocol."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from . import CloseCode, DiscordTestServer, Intents
from .conftest import Scene

JSON = dict[str, Any]


def bot_headers(scene: Scene) -> dict[str, str]:
    return {"Authorization": f"Bot {scene.bot.token}"}


async def test_rest_auth_forms_and_json_content_type(
    server: DiscordTestServer, scene: Scene
) -> None:
    me = f"{server.api_url}/users/@me"
    async with aiohttp.ClientSession() as session:
        async with session.get(me, headers=bot_headers(scene)) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "application/json"
            assert (await r.json())["id"] == str(scene.bot.id)
        async with session.get(me, headers={"Authorization": scene.alice.token}) as r:
            assert (await r.json())["username"] == "alice", "user tokens go without a prefix"
        async with session.get(me, headers={"Authorization": scene.bot.token}) as r:
            assert r.status == 401, "a bot token needs the Bot prefix"
        async with session.get(me) as r:
            assert r.status == 401 and (await r.json()) == {
                "message": "401: Unauthorized",
                "code": 0,
            }
        async with session.get(f"{server.api_url}/gateway") as r:
            assert (await r.json()) == {"url": server.gateway_url}
        async with session.get(f"{server.api_url}/gateway/bot", headers=bot_headers(scene)) as r:
            limit = (await r.json())["session_start_limit"]
            assert limit["remaining"] == limit["total"] and limit["max_concurrency"] == 1
        async with session.get(f"{server.api_url}/channels/123", headers=bot_headers(scene)) as r:
            assert r.status == 404 and (await r.json())["code"] == 10003


async def test_message_validation_nonce_and_upload_limit(
    server: DiscordTestServer, scene: Scene
) -> None:
    url = f"{server.api_url}/channels/{scene.general.id}/messages"
    async with aiohttp.ClientSession(headers=bot_headers(scene)) as session:
        async with session.post(url, json={"content": ""}) as r:
            assert r.status == 400 and (await r.json())["code"] == 50006
        async with session.post(url, json={"content": "x" * 2001}) as r:
            body = await r.json()
            assert body["code"] == 50035 and "content" in body["errors"]
        first: JSON = {"content": "once", "nonce": "abc", "enforce_nonce": True}
        async with session.post(url, json=first) as r:
            sent = await r.json()
        async with session.post(url, json=first) as r:
            assert (await r.json())["id"] == sent["id"], "a retried nonce returns the original"
        server.max_upload_size = 1000
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("payload_json", json.dumps({"content": "big"}))
        form.add_field("files[0]", b"x" * 1001, filename="big.bin")
        async with session.post(url, data=form) as r:
            assert r.status == 413 and (await r.json())["code"] == 40005
    assert [m.content for m in server.messages_in(scene.general)] == ["once"]


async def test_attachment_urls_are_signed(server: DiscordTestServer, scene: Scene) -> None:
    msg = server.send_message(scene.alice, scene.general, "", attachments=[("f.txt", b"data")])
    url = f"{server.api_url}/channels/{scene.general.id}/messages/{msg.id}"
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=bot_headers(scene)) as r:
            attachment = (await r.json())["attachments"][0]
        assert "?ex=" in attachment["url"] and "&hm=" in attachment["url"]
        async with session.get(attachment["url"]) as r:
            assert r.status == 200 and await r.read() == b"data"
        async with session.get(attachment["url"].split("?")[0]) as r:
            assert r.status == 404


async def test_rest_reads_hide_content_without_the_enabled_intent(
    server: DiscordTestServer, scene: Scene
) -> None:
    server.set_privileged_intents(scene.app, Intents.GUILD_MEMBERS)
    plain = server.send_message(scene.alice, scene.general, "hidden")
    mention = server.send_message(scene.alice, scene.general, f"<@{scene.bot.id}> visible")
    url = f"{server.api_url}/channels/{scene.general.id}/messages"
    async with aiohttp.ClientSession(headers=bot_headers(scene)) as session:
        async with session.get(url) as r:
            by_id = {m["id"]: m["content"] for m in await r.json()}
    assert by_id == {str(plain.id): "", str(mention.id): f"<@{scene.bot.id}> visible"}


async def _frame(ws: aiohttp.ClientWebSocketResponse) -> JSON:
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def test_raw_gateway_protocol(server: DiscordTestServer, scene: Scene) -> None:
    identify = {
        "op": 2,
        "d": {"token": scene.bot.token, "intents": int(Intents.GUILDS | Intents.GUILD_MESSAGES)},
    }
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{server.gateway_url}?v=10&encoding=json") as ws:
            hello = await _frame(ws)
            assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 1000
            await ws.send_json({"op": 1, "d": None})
            assert (await _frame(ws))["op"] == 11
            await ws.send_json(identify)
            ready = await _frame(ws)
            assert (ready["t"], ready["s"]) == ("READY", 1)
            assert ready["d"]["guilds"] == [{"id": str(scene.guild.id), "unavailable": True}]
            assert ready["d"]["application"]["id"] == str(scene.app.id)
            guild_create = await _frame(ws)
            assert (guild_create["t"], guild_create["s"]) == ("GUILD_CREATE", 2)
            assert guild_create["d"]["unavailable"] is False
            member_ids = [m["user"]["id"] for m in guild_create["d"]["members"]]
            assert member_ids == [str(scene.bot.id)], "no member list without GUILD_MEMBERS"
            server.send_message(scene.alice, scene.general, "no content intent")
            created = await _frame(ws)
            assert (created["t"], created["s"], created["d"]["content"]) == (
                "MESSAGE_CREATE",
                3,
                "",
            )
            await ws.send_json(identify)
            closed = await ws.receive(timeout=5)
            assert closed.type == aiohttp.WSMsgType.CLOSE
            assert closed.data == CloseCode.ALREADY_AUTHENTICATED

        async with session.ws_connect(f"{server.gateway_url}?v=10&encoding=json") as ws:
            await _frame(ws)
            await ws.send_json({"op": 3, "d": {"status": "online"}})
            closed = await ws.receive(timeout=5)
            assert closed.data == CloseCode.NOT_AUTHENTICATED

        async with session.ws_connect(f"{server.gateway_url}?v=10&encoding=json") as ws:
            await _frame(ws)
            await ws.send_json({"op": 2, "d": {"token": scene.bot.token, "intents": 1 << 40}})
            closed = await ws.receive(timeout=5)
            assert closed.data == CloseCode.INVALID_INTENTS

        for frame, code in (
            ({"op": 42, "d": None}, CloseCode.UNKNOWN_OPCODE),
            ("not json", CloseCode.DECODE_ERROR),
        ):
            async with session.ws_connect(f"{server.gateway_url}?v=10&encoding=json") as ws:
                await _frame(ws)
                await ws.send_str(json.dumps(frame) if isinstance(frame, dict) else frame)
                closed = await ws.receive(timeout=5)
                assert closed.data == code

        async with session.ws_connect(f"{server.gateway_url}?v=6&encoding=json") as ws:
            closed = await ws.receive(timeout=5)
            assert closed.data == CloseCode.INVALID_API_VERSION


@pytest.mark.parametrize("seq_offset", [0, 1])
async def test_raw_resume_replays_after_seq(
    server: DiscordTestServer, scene: Scene, seq_offset: int
) -> None:
    identify = {"op": 2, "d": {"token": scene.bot.token, "intents": int(Intents.GUILDS)}}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{server.gateway_url}?v=10&encoding=json") as ws:
            await _frame(ws)
            await ws.send_json(identify)
            ready = await _frame(ws)
            await _frame(ws)
            session_id = ready["d"]["session_id"]
            resume_url = ready["d"]["resume_gateway_url"]
            await ws.close(code=4000)  # 1000/1001 would end the session
        server.update_channel(scene.general, topic="changed while away")
        server.update_channel(scene.random, topic="also changed")
        async with session.ws_connect(f"{resume_url}?v=10&encoding=json") as ws:
            await _frame(ws)
            resume = {"token": scene.bot.token, "session_id": session_id, "seq": 2 + seq_offset}
            await ws.send_json({"op": 6, "d": resume})
            frames = [await _frame(ws) for _ in range(3 - seq_offset)]
            names = [(f["t"], f["s"]) for f in frames]
            expected = [("CHANNEL_UPDATE", 3), ("CHANNEL_UPDATE", 4), ("RESUMED", 5)]
            assert names == expected[seq_offset:]


async def test_identify_limits() -> None:
    server = DiscordTestServer(session_start_limit=2, identify_interval=30.0)
    await server.start()
    try:
        app = server.create_application("Limited")
        bot = server.bot_of(app)
        old_token = bot.token
        identify = {"op": 2, "d": {"token": old_token, "intents": int(Intents.GUILDS)}}
        url = f"{server.gateway_url}?v=10&encoding=json"
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url) as ws:
                await _frame(ws)
                await ws.send_json(identify)
                assert (await _frame(ws))["t"] == "READY"
                await ws.send_json(identify)
                closed = await ws.receive(timeout=5)
                assert closed.data == CloseCode.ALREADY_AUTHENTICATED
            async with session.ws_connect(url) as ws:
                await _frame(ws)
                await ws.send_json(identify)
                too_soon = await _frame(ws)
                assert (too_soon["op"], too_soon["d"]) == (9, False)
            server.gateway.identify_interval = 0.0
            async with session.ws_connect(url) as ws:
                await _frame(ws)
                await ws.send_json(identify)
                assert (await _frame(ws))["t"] == "READY"
            async with session.ws_connect(url) as ws:
                await _frame(ws)
                await ws.send_json(identify)
                closed = await ws.receive(timeout=5)
                assert closed.data == CloseCode.AUTHENTICATION_FAILED
        assert bot.token != old_token and server.account_by_token(old_token) is None
        assert len(server.gateway.records_of("identify", bot)) == 2
    finally:
        await server.stop()


async def test_unversioned_webhook_url_and_user_account_gateway(
    server: DiscordTestServer, scene: Scene
) -> None:
    hook = server.create_webhook(scene.general, "relay", creator=scene.bot)
    dm = server.create_dm(scene.alice, scene.bob)
    async with aiohttp.ClientSession() as session:
        url = f"{server.base_url}/api/webhooks/{hook.id}/{hook.token}?wait=true"
        async with session.post(url, json={"content": "via URL", "username": "M"}) as r:
            assert r.status == 200 and (await r.json())["webhook_id"] == str(hook.id)

        async with session.ws_connect(f"{server.gateway_url}?v=10&encoding=json") as ws:
            await _frame(ws)
            await ws.send_json({"op": 2, "d": {"token": scene.alice.token}})
            ready = await _frame(ws)
            assert ready["d"]["user"]["id"] == str(scene.alice.id)
            assert [c["id"] for c in ready["d"]["private_channels"]] == [str(dm.id)]
            assert "application" not in ready["d"]
            assert (await _frame(ws))["t"] == "GUILD_CREATE"
            server.send_message(scene.bob, dm, "hi alice")
            created = await _frame(ws)
            while created["t"] != "MESSAGE_CREATE":
                assert created["t"] == "PRESENCE_UPDATE"
                created = await _frame(ws)
            assert created["d"]["content"] == "hi alice"


async def test_sharded_sessions_split_guilds(server: DiscordTestServer, scene: Scene) -> None:
    guilds = [scene.guild]
    while len({(g.id >> 22) % 2 for g in guilds}) < 2:
        extra = server.create_guild(f"g{len(guilds)}", owner=scene.alice)
        server.add_member(extra, scene.bot)
        guilds.append(extra)
    seen: dict[int, set[str]] = {}
    async with aiohttp.ClientSession() as session:
        for shard in (0, 1):
            async with session.ws_connect(f"{server.gateway_url}?v=10&encoding=json") as ws:
                await _frame(ws)
                identify = {
                    "token": scene.bot.token,
                    "intents": int(Intents.GUILDS),
                    "shard": [shard, 2],
                }
                await ws.send_json({"op": 2, "d": identify})
                ready = await _frame(ws)
                assert ready["d"]["shard"] == [shard, 2]
                seen[shard] = {g["id"] for g in ready["d"]["guilds"]}
    assert seen[0].isdisjoint(seen[1])
    assert seen[0] | seen[1] == {str(g.id) for g in guilds}
    for shard, ids in seen.items():
        assert all((int(i) >> 22) % 2 == shard for i in ids)
