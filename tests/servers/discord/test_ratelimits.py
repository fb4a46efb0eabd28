"""REST rate limits and injected REST faults: discord.py waits, retries, and the
message arrives exactly once; headers and 429 bodies have Discord's shape."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import discord

from . import BucketRule, DiscordTestServer, running_client
from .conftest import Scene

ClientFactory = Callable[..., discord.Client]
MESSAGES = "/channels/{channel_id}/messages"


async def test_injected_429_is_retried_and_the_message_arrives_once(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    client = make_client()
    async with running_client(client, scene.bot.token):
        channel = client.get_channel(scene.general.id)
        assert isinstance(channel, discord.TextChannel)
        fault = server.faults.fail_rest(MESSAGES, method="POST", retry_after=0.3)
        sent = await channel.send("despite the rate limit")
        assert fault.hits == 1
        attempts = server.requests_to(MESSAGES, "POST")
        assert [r.status for r in attempts] == [429, 200]
        assert [m.content for m in server.messages_in(scene.general)] == ["despite the rate limit"]
        assert server.message(sent.id).author_id == scene.bot.id


async def test_exhausted_bucket_makes_discordpy_wait_without_429(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    server.rate_limits.set_limit(MESSAGES, 2, 0.5, method="POST")
    client = make_client()
    async with running_client(client, scene.bot.token):
        channel = client.get_channel(scene.general.id)
        assert isinstance(channel, discord.TextChannel)
        for i in range(4):
            await channel.send(f"m{i}")
        statuses = [r.status for r in server.requests_to(MESSAGES, "POST")]
        assert statuses == [200, 200, 200, 200]
        assert [m.content for m in server.messages_in(scene.general)] == ["m0", "m1", "m2", "m3"]


async def test_rate_limit_headers_and_429_body(server: DiscordTestServer, scene: Scene) -> None:
    server.rate_limits.set_limit(MESSAGES, 1, 30.0, method="POST")
    url = f"{server.api_url}/channels/{scene.general.id}/messages"
    headers = {"Authorization": f"Bot {scene.bot.token}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"content": "one"}, headers=headers) as ok:
            assert ok.status == 200
            assert ok.headers["Content-Type"] == "application/json"
            assert ok.headers["X-RateLimit-Limit"] == "1"
            assert ok.headers["X-RateLimit-Remaining"] == "0"
            assert 29 < float(ok.headers["X-RateLimit-Reset-After"]) <= 30
            bucket = ok.headers["X-RateLimit-Bucket"]
        async with session.post(url, json={"content": "two"}, headers=headers) as limited:
            assert limited.status == 429
            body = await limited.json()
            assert body["global"] is False and 29 < body["retry_after"] <= 30
            assert limited.headers["Retry-After"] == "30"
            assert limited.headers["X-RateLimit-Scope"] == "user"
            assert limited.headers["X-RateLimit-Bucket"] == bucket
            assert limited.headers["Via"]
        other = f"{server.api_url}/channels/{scene.random.id}/messages"
        async with session.post(other, json={"content": "other channel"}, headers=headers) as r:
            assert r.status == 200, "buckets are per channel (major parameter)"
    assert [m.content for m in server.messages_in(scene.general)] == ["one"]


async def test_global_rate_limit() -> None:
    server = DiscordTestServer(global_rate_limit=BucketRule(2, 10.0))
    await server.start()
    try:
        app = server.create_application("G")
        bot = server.bot_of(app)
        headers = {"Authorization": f"Bot {bot.token}"}
        async with aiohttp.ClientSession() as session:
            for _ in range(2):
                async with session.get(f"{server.api_url}/users/@me", headers=headers) as r:
                    assert r.status == 200
            async with session.get(f"{server.api_url}/users/@me", headers=headers) as r:
                assert r.status == 429
                assert (await r.json())["global"] is True
                assert r.headers["X-RateLimit-Global"] == "true"
                assert r.headers["X-RateLimit-Scope"] == "global"
    finally:
        await server.stop()


async def test_injected_server_error_is_retried(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    client = make_client()
    async with running_client(client, scene.bot.token):
        channel = client.get_channel(scene.general.id)
        assert isinstance(channel, discord.TextChannel)
        server.faults.fail_rest(MESSAGES, method="POST", status=502)
        await channel.send("after a 502")
        assert [r.status for r in server.requests_to(MESSAGES, "POST")] == [502, 200]
        assert len(server.messages_in(scene.general)) == 1
