"""End-to-bridge encryption: the bot's device decrypts what users send and encrypts what
the bridge sends, in every encrypted room (management rooms and portals).

Ghosts have no devices: the bot's Olm account holds the Megolm sessions, and ghost
intents send events the bot encrypted. The crypto store lives in the bridge's own
database (SQLite or PostgreSQL).

Two delivery modes:
- appservice mode: to-device events, one-time-key counts and device lists arrive in
  transactions (MSC2409/MSC3202) and are handled before the transaction is answered;
- /sync mode: the bot's device syncs (to-device events and key counts only).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from mautrix.client import Client
from mautrix.crypto import OlmMachine, PgCryptoStore, RejectKeyShare
from mautrix.crypto.attachments import encrypt_attachment
from mautrix.errors import EncryptionError, MNotFound, SessionNotFound
from mautrix.types import (
    DeviceID,
    DeviceIdentity,
    EncryptedEvent,
    Event,
    EventFilter,
    EventType,
    Filter,
    LoginType,
    Membership,
    RequestedKeyInfo,
    RoomEventFilter,
    RoomFilter,
    RoomID,
    RoomKeyWithheldCode,
    StateEvent,
    StateFilter,
    TrustState,
    UserID,
)

from .failures import DecryptionFailed

if TYPE_CHECKING:
    from ..bridge import Bridge

log = logging.getLogger("bridgekit.encryption")

PICKLE_KEY = "bridgekit.e2ee"
MEGOLM = "m.megolm.v1.aes-sha2"


class Encryption:
    """The bot's crypto device and everything that uses it."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        config = bridge.config
        self.appservice_mode = bool(config.get("encryption.appservice"))
        self.msc4190 = bool(config.get("encryption.msc4190"))
        self.key_wait_s = float(config.get("encryption.key_wait_seconds", 10))
        self.allow_key_sharing = bool(config.get("encryption.allow_key_sharing", True))
        self.store = PgCryptoStore(str(bridge.bot_mxid), PICKLE_KEY, bridge.db)
        state_store = bridge.appservice.state_store
        self.client = Client(
            base_url=config["homeserver.address"],
            mxid=bridge.bot_mxid,
            sync_store=self.store,
            state_store=state_store,
            log=logging.getLogger("bridgekit.encryption.client"),
        )
        self.machine = OlmMachine(
            self.client,
            self.store,
            state_store,  # type: ignore[arg-type]  # PgASStateStore has the crypto methods
            log=logging.getLogger("bridgekit.encryption.olm"),  # type: ignore[arg-type]
        )
        levels = config.get("encryption.verification_levels") or {}
        self.machine.send_keys_min_trust = TrustState.parse(levels.get("receive", "unverified"))
        self.machine.share_keys_min_trust = TrustState.parse(levels.get("share", "unverified"))
        self.machine.allow_key_share = self._allow_key_share
        self._share_locks: dict[str, asyncio.Lock] = {}
        self._sync_task: asyncio.Future[Any] | None = None
        if self.appservice_mode:
            appservice = bridge.appservice
            appservice.otk_handler = self.machine.handle_as_otk_counts
            appservice.device_list_handler = self.machine.handle_as_device_lists
            appservice.to_device_handler = self.machine.handle_as_to_device_event

    async def start(self) -> None:
        """Create or load the bot's device and make sure its keys are on the server."""
        await PgCryptoStore.upgrade_table.upgrade(self.bridge.db)
        await self.store.open()
        device_id = await self.store.get_device_id()
        await self._create_device(device_id)
        await self.machine.load()
        if not device_id:
            await self.store.put_device_id(self.client.device_id)
            log.info("Created the bot's encryption device %s", self.client.device_id)
            await self.machine.share_keys()
        elif (
            self.machine.account is not None
            and self.machine.account.shared
            and not (await self._keys_on_server())
        ):
            # The server lost the device (deleted, or a database restored from an old
            # backup): start over with a new device rather than stay unable to decrypt.
            log.warning(
                "The bot's device %s has no keys on the server; creating a new one", device_id
            )
            await self.store.delete()
            # A new store object: the old one keeps the deleted account in memory.
            self.store = PgCryptoStore(str(self.bridge.bot_mxid), PICKLE_KEY, self.bridge.db)
            self.machine.crypto_store = self.store
            self.client.sync_store = self.store
            await self.store.open()
            # A new device ID too: clients that knew the old one would take new keys
            # under the same ID for an attack.
            self.client.device_id = DeviceID("")
            await self._create_device(None)
            await self.machine.load()
            await self.store.put_device_id(self.client.device_id)
            await self.machine.share_keys()
        else:
            await self.machine.share_keys()
        mode = "appservice" if self.appservice_mode else "sync"
        log.info("End-to-bridge encryption is on (%s mode, device %s)", mode, self.client.device_id)
        if not self.appservice_mode:
            self._sync_task = self.client.start(self._sync_filter())

    async def _create_device(self, device_id: str | None) -> None:
        self.client.api.token = self.bridge.config["appservice.as_token"]
        name = f"{self.bridge.connector.name.display_name} bridge"
        if self.msc4190:
            await self.client.create_device_msc4190(device_id or "", name)
        else:
            await self.client.login(
                login_type=LoginType.APPSERVICE,
                identifier=self.bridge.bot_mxid,
                device_name=name,
                device_id=device_id,
                store_access_token=True,
                update_hs_url=False,
            )

    async def _keys_on_server(self) -> bool:
        response = await self.client.query_keys([self.client.mxid])
        device = response.device_keys.get(self.client.mxid, {}).get(self.client.device_id)
        return bool(device and device.keys)

    @staticmethod
    def _sync_filter() -> Filter:
        everything = EventType.find("*")
        nothing = RoomEventFilter(not_types=[everything])
        return Filter(
            account_data=EventFilter(types=[everything]),
            presence=EventFilter(not_types=[everything]),
            room=RoomFilter(
                include_leave=False,
                state=StateFilter(not_types=[everything]),
                timeline=nothing,
                account_data=nothing,
                ephemeral=nothing,
            ),
        )

    async def stop(self) -> None:
        self.client.stop()
        if self._sync_task is not None:
            self._sync_task.cancel()
        await self.client.api.session.close()
        await self.store.close()

    # Rooms -----------------------------------------------------------------------

    async def is_encrypted(self, room_id: RoomID) -> bool:
        """Whether a room is encrypted; asks the server once if the store doesn't know
        (the encryption event of a room made before the bot joined is never pushed)."""
        state_store = self.bridge.appservice.state_store
        known = await state_store.is_encrypted(room_id)
        if known is not None:
            return bool(known)
        try:
            content = await self.bridge.bot_intent.get_state_event(
                room_id, EventType.ROOM_ENCRYPTION
            )
        except MNotFound:
            await state_store.set_encryption_info(room_id, {"algorithm": ""})
            await self._mark_plaintext(room_id)
            return False
        await state_store.set_encryption_info(room_id, content.serialize())
        return True

    async def _mark_plaintext(self, room_id: RoomID) -> None:
        await self.bridge.db.execute(
            "UPDATE mx_room_state SET is_encrypted=false, encryption=NULL WHERE room_id=$1",
            room_id,
        )

    async def handle_member_event(self, event: StateEvent) -> None:
        """Real users joining or leaving rotate the room's group session; ghosts don't."""
        if self.bridge.is_ghost(str(event.state_key)):
            return
        await self.machine.handle_member_event(event)

    # Encrypting ----------------------------------------------------------------------

    async def encrypt(
        self, room_id: RoomID, event_type: EventType, content: Any
    ) -> tuple[EventType, Any]:
        """Encrypt ``content`` for the room, sharing a new group session if needed."""
        try:
            encrypted = await self.machine.encrypt_megolm_event(room_id, event_type, content)
        except EncryptionError:
            await self._share_session(room_id)
            encrypted = await self.machine.encrypt_megolm_event(room_id, event_type, content)
        return EventType.ROOM_ENCRYPTED, encrypted

    async def _share_session(self, room_id: RoomID) -> None:
        lock = self._share_locks.setdefault(room_id, asyncio.Lock())
        async with lock:
            current = await self.store.get_outbound_group_session(room_id)
            if current is not None and current.shared and not current.expired:
                return  # another task shared it while we waited
            members = await self.bridge.bot_intent.get_members(room_id)
            users = [
                UserID(str(m.state_key))
                for m in members
                if getattr(m.content, "membership", None) in (Membership.JOIN, Membership.INVITE)
                and not self.bridge.is_bridge_user(str(m.state_key))
            ]
            log.debug("Sharing a new group session in %s with %d users", room_id, len(users))
            await self.machine.share_group_session(room_id, users)

    # Decrypting ----------------------------------------------------------------------

    async def decrypt(self, event: EncryptedEvent) -> Event:
        """Decrypt an event, waiting a bounded time for a room key that arrives late."""
        try:
            return await self.machine.decrypt_megolm_event(event)
        except SessionNotFound as e:
            log.debug("No session %s for %s yet; waiting", e.session_id, event.event_id)
            got = await self.machine.wait_for_session(
                event.room_id, e.session_id, timeout=self.key_wait_s
            )
            if not got:
                raise DecryptionFailed(
                    "the bridge never received the key for it. Check that your client shares "
                    "keys with the bridge's device (don't block unverified devices)."
                ) from e
            return await self.machine.decrypt_megolm_event(event)
        except Exception as e:
            raise DecryptionFailed(f"it could not be decrypted ({type(e).__name__}).") from e

    # Attachments ------------------------------------------------------------------------

    @staticmethod
    def encrypt_file(data: bytes) -> tuple[bytes, dict[str, Any]]:
        """Encrypt attachment bytes; returns the ciphertext and the ``file`` object (whose
        ``url`` the caller fills in after uploading)."""
        ciphertext, info = encrypt_attachment(data)
        return ciphertext, info.serialize()

    # Key requests ------------------------------------------------------------------------

    async def _allow_key_share(self, device: DeviceIdentity, request: RequestedKeyInfo) -> bool:
        """Re-share a room key with a device of a user who is in the room now, unless the
        device is blacklisted or less trusted than ``verification_levels.share``. A
        refusal is sent back as ``m.room_key.withheld`` with the reason."""
        if not self.allow_key_sharing:
            raise RejectKeyShare("Key sharing is off", code=RoomKeyWithheldCode.UNAVAILABLE)
        if device.trust == TrustState.BLACKLISTED:
            raise RejectKeyShare(
                f"{device.user_id}'s device {device.device_id} is blacklisted",
                code=RoomKeyWithheldCode.BLACKLISTED,
                reason="This device is blacklisted by the bridge",
            )
        state_store = self.bridge.appservice.state_store
        member = await state_store.get_member(request.room_id, device.user_id)
        if member is None or member.membership != Membership.JOIN:
            raise RejectKeyShare(
                f"{device.user_id} is not in {request.room_id}",
                code=RoomKeyWithheldCode.UNAUTHORIZED,
                reason="You are not in that room",
            )
        if await self.machine.resolve_trust(device) < self.machine.share_keys_min_trust:
            raise RejectKeyShare(
                f"{device.user_id}'s device {device.device_id} is not trusted enough",
                code=RoomKeyWithheldCode.UNVERIFIED,
                reason="Verify this device to get the bridge's room keys",
            )
        log.info(
            "Sharing the key of session %s in %s with %s's device %s",
            request.session_id,
            request.room_id,
            device.user_id,
            device.device_id,
        )
        return True
