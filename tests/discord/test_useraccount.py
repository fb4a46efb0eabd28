"""The user-account client (``bridges.discord.useraccount``) on its own, against the
Discord test server: REST with the bare token (429s waited out, nonces, edits,
deletions, reactions, typing, history) and the gateway (IDENTIFY as a user, READY
with private channels, dispatches, RESUME after a drop, 4004 stops it)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from bridges.discord.useraccount import (
    ChannelChanged,
    ConnectionLost,
    DiscordHTTPError,
    Emoji,
    GatewayEvent,
    MessageCreated,
    MessageDeleted,
    MessageUpdated,
    ReactionChanged,
    Ready,
    Resumed,
    TokenRefused,
    TypingStarted,
    UserGateway,
    UserREST,
)
from tests.servers.discord import Account, DiscordTestServer

from .conftest import wait_until


@pytest.fixture
async def people(discord_server: DiscordTestServer) -> tuple[Account, Account]:
    return discord_server.create_user("dalia", global_name="Dalia"), discord_server.create_user(
        "bob"
    )


@contextlib.asynccontextmanager
async def rest_of(server: DiscordTestServer, account: Account) -> AsyncIterator[UserREST]:
    rest = UserREST(server.api_url, account.token)
    try:
        yield rest
    finally:
        await rest.close()


async def test_rest_as_a_user(
    discord_server: DiscordTestServer, people: tuple[Account, Account]
) -> None:
    server = discord_server
    dalia, bob = people
    dm = server.create_dm(dalia, bob)
    group = server.create_group_dm(bob, [dalia], name="Plans")
    async with rest_of(server, dalia) as rest:
        me = await rest.me()
        assert (me.id, me.username, me.display_name, me.bot) == (dalia.id, "dalia", "Dalia", False)
        channels = {c.id: c for c in await rest.private_channels()}
        assert set(channels) == {dm.id, group.id}
        assert [u.id for u in channels[dm.id].without(dalia.id).recipients] == [bob.id]
        assert channels[group.id].is_group and channels[group.id].name == "Plans"

        first = await rest.send_message(dm.id, "hello", nonce="n1")
        again = await rest.send_message(dm.id, "hello", nonce="n1")
        assert again.id == first.id, "the nonce made the retry idempotent"
        reply = await rest.send_message(dm.id, "answer", nonce="n2", reply_to=first.id)
        assert reply.reply_to == first.id
        await rest.edit_message(dm.id, first.id, "hello, edited")
        await rest.add_reaction(dm.id, first.id, Emoji("👍"))
        assert server.message(first.id).reactions[0].user_ids == [dalia.id]
        await rest.typing(dm.id)
        assert [m.content for m in await rest.messages(dm.id)] == ["hello, edited", "answer"]
        assert [m.id for m in await rest.messages(dm.id, after=first.id)] == [reply.id]
        await rest.remove_reaction(dm.id, first.id, Emoji("👍"))
        await rest.delete_message(dm.id, reply.id)
        with pytest.raises(DiscordHTTPError) as refused:
            await rest.delete_message(dm.id, reply.id)
        assert refused.value.status == 404 and refused.value.code == 10008

    stored = server.messages_in(dm)
    assert [m.content for m in stored] == ["hello, edited"]
    assert stored[0].author_id == dalia.id
    assert not any(r.user_ids for r in stored[0].reactions)
    posts = server.requests_to("/channels/{channel_id}/messages", "POST")
    assert {r.account_id for r in posts} == {dalia.id}


async def test_rest_waits_out_rate_limits_and_names_a_refused_token(
    discord_server: DiscordTestServer, people: tuple[Account, Account]
) -> None:
    server = discord_server
    dalia, bob = people
    dm = server.create_dm(dalia, bob)
    fault = server.faults.fail_rest(
        "/channels/{channel_id}/messages", method="POST", times=2, retry_after=0.2
    )
    async with rest_of(server, dalia) as rest:
        sent = await rest.send_message(dm.id, "after the wait", nonce="n1")
    assert fault.hits == 2
    assert [m.id for m in server.messages_in(dm)] == [sent.id]

    bot = server.bot_of(server.create_application("Bot"))
    async with rest_of(server, bot) as rest:  # a bot token without "Bot " is no user token
        with pytest.raises(TokenRefused):
            await rest.me()


class Recorder:
    """Collects a gateway's events for a test to wait on."""

    def __init__(self) -> None:
        self.events: list[GatewayEvent] = []

    async def __call__(self, event: GatewayEvent) -> None:
        self.events.append(event)

    def of(self, kind: type[GatewayEvent]) -> list[GatewayEvent]:
        return [e for e in self.events if isinstance(e, kind)]


@contextlib.asynccontextmanager
async def running_gateway(
    server: DiscordTestServer, account: Account, recorder: Recorder
) -> AsyncIterator[tuple[UserGateway, asyncio.Task[None]]]:
    gateway = UserGateway(server.gateway_url, account.token, recorder, first_retry=0.1)
    task = asyncio.create_task(gateway.run())
    try:
        yield gateway, task
    finally:
        await gateway.stop()
        await asyncio.wait_for(task, 10)


async def test_gateway_as_a_user_with_resume_after_a_drop(
    discord_server: DiscordTestServer, people: tuple[Account, Account]
) -> None:
    server = discord_server
    dalia, bob = people
    dm = server.create_dm(dalia, bob)
    guild = server.create_guild("Guild", owner=bob)
    server.add_member(guild, dalia)
    general = server.create_text_channel(guild, "general")
    events = Recorder()
    async with running_gateway(server, dalia, events):
        [ready] = await wait_until(lambda: events.of(Ready))
        assert isinstance(ready, Ready) and ready.user.id == dalia.id
        assert [c.id for c in ready.private_channels] == [dm.id]
        [identify] = server.gateway.records_of("identify", dalia)
        assert identify.properties is not None and identify.properties["browser"] == "Chrome"

        message = server.send_message(bob, dm, "hi dalia")
        server.send_message(bob, general, "in a guild")
        server.edit_message(message, "hi dalia!")
        server.add_reaction(bob, message, "🎉")
        server.start_typing(bob, dm)
        group = server.create_group_dm(bob, [dalia], name="Plans")
        await wait_until(lambda: events.of(ChannelChanged))
        await wait_until(lambda: len(events.of(MessageCreated)) >= 2)
        created = [e.message for e in events.of(MessageCreated) if isinstance(e, MessageCreated)]
        assert [(m.content, m.guild_id) for m in created] == [
            ("hi dalia", None),
            ("in a guild", guild.id),
        ]
        [update] = await wait_until(lambda: events.of(MessageUpdated))
        assert isinstance(update, MessageUpdated) and update.message.edited_ms is not None
        [reaction] = await wait_until(lambda: events.of(ReactionChanged))
        assert isinstance(reaction, ReactionChanged) and reaction.emoji.name == "🎉"
        await wait_until(lambda: events.of(TypingStarted))
        [changed] = events.of(ChannelChanged)
        assert isinstance(changed, ChannelChanged) and changed.channel.id == group.id

        # A lost connection: what happens meanwhile is replayed after the RESUME.
        server.faults.drop_gateway(dalia)
        missed = server.send_message(bob, dm, "while you were away")
        server.delete_message(missed)
        await server.gateway.wait_for_record("resume", dalia)
        await wait_until(lambda: events.of(Resumed))
        await wait_until(lambda: events.of(MessageDeleted))
        assert any(
            isinstance(e, MessageCreated) and e.message.id == missed.id for e in events.events
        )
        assert events.of(ConnectionLost)
    assert len(server.gateway.records_of("identify", dalia)) == 1


async def test_gateway_stops_when_the_token_is_refused(
    discord_server: DiscordTestServer, people: tuple[Account, Account]
) -> None:
    server = discord_server
    dalia, _ = people
    events = Recorder()
    gateway = UserGateway(server.gateway_url, dalia.token, events, first_retry=0.1)
    task = asyncio.create_task(gateway.run())
    await wait_until(lambda: events.of(Ready))
    server.reset_token(dalia)  # closes the session with 4004
    with pytest.raises(TokenRefused):
        await asyncio.wait_for(task, 10)
    assert len(server.gateway.records_of("identify", dalia)) == 1

    wrong = UserGateway(server.gateway_url, "x" * 40, events, first_retry=0.1)
    with pytest.raises(TokenRefused):
        await asyncio.wait_for(wrong.run(), 10)
