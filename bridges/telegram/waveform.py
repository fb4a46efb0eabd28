"""Voice-message waveforms: Telegram packs 5-bit levels (0 to 31, see Telethon's
``utils.encode_waveform``); Matrix voice messages (MSC3245) carry a list of numbers
from 0 to 1024 (MSC1767)."""

from __future__ import annotations

from typing import Any

from telethon import utils

TELEGRAM_MAX = 31
MATRIX_MAX = 1024
#: Telegram clients draw about a hundred bars; longer waveforms are cut.
MAX_LEVELS = 100


def unpack(packed: bytes) -> list[int]:
    """The 5-bit levels of a packed waveform: level ``i`` is bits ``5i`` to ``5i + 4``,
    least significant first. (Telethon's ``decode_waveform`` misreads the last level,
    so this is done here; its ``encode_waveform`` is right and is used.)"""
    bits = int.from_bytes(packed, "little")
    return [(bits >> (5 * i)) & TELEGRAM_MAX for i in range(len(packed) * 8 // 5)]


def to_matrix(packed: bytes | None) -> list[int]:
    """A Telegram waveform as Matrix levels."""
    return [round(v * MATRIX_MAX / TELEGRAM_MAX) for v in unpack(packed or b"")]


def to_telegram(levels: Any) -> bytes | None:
    """Matrix levels (untrusted event content) as a packed Telegram waveform; ``None``
    when there is none."""
    if not isinstance(levels, list) or not levels:
        return None
    scaled = [
        min(TELEGRAM_MAX, round(max(0, v) * TELEGRAM_MAX / MATRIX_MAX))
        if isinstance(v, int | float) and not isinstance(v, bool)
        else 0
        for v in levels[:MAX_LEVELS]
    ]
    packed: bytes = utils.encode_waveform(bytes(scaled))
    return packed
