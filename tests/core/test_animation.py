"""Lottie stickers rendered for Matrix, and what happens with data that is not one."""

from __future__ import annotations

import gzip
import io
import json

import pytest
from PIL import Image

from bridgekit.network.animation import AnimationError, lottie_to_webp, tgs_to_webp
from tests.lottie import is_red, tgs

_EMPTY = {"v": "5.5.2", "fr": 30, "ip": 0, "op": 60, "w": 512, "h": 512, "layers": []}


async def test_a_lottie_document_becomes_an_animated_webp_of_the_asked_size() -> None:
    image = Image.open(io.BytesIO(await tgs_to_webp(tgs(60), size=128)))
    assert (image.format, image.size) == ("WEBP", (128, 128)) and image.n_frames > 50
    image.seek(30)  # halfway: the square is in the middle
    assert is_red(image.convert("RGBA").getpixel((64, 64)))


async def test_a_very_long_animation_is_cut_to_a_bounded_number_of_frames() -> None:
    endless = {**_EMPTY, "op": 100_000_000}
    image = Image.open(io.BytesIO(await lottie_to_webp(json.dumps(endless).encode())))
    assert image.n_frames <= 180


@pytest.mark.parametrize(
    "document",
    [b"", b"not json", b'"a string"', b"{}", b"[]", b'{"layers": 5}', b"\xff\xfe"],
)
async def test_what_is_not_an_animation_is_refused_with_a_reason(document: bytes) -> None:
    with pytest.raises(AnimationError):
        await lottie_to_webp(document)


async def test_a_tgs_that_is_not_gzip_or_too_large_is_refused() -> None:
    with pytest.raises(AnimationError, match="gzipped"):
        await tgs_to_webp(b"plain bytes")
    bomb = gzip.compress(b"{" + b" " * (2 << 20) + b"}")
    with pytest.raises(AnimationError, match="larger"):
        await tgs_to_webp(bomb)
