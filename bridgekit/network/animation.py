"""Animated stickers for Matrix: Lottie animations (Telegram's ``.tgs`` stickers,
Discord's Lottie stickers) rendered to animated WebP, which Matrix clients play as an
image.

Rendering uses ``rlottie-python`` (rlottie, bundled in its wheel) and Pillow, both
in the ``telegram`` and ``discord`` extras. Input comes from other networks, so it is
bounded before rlottie sees it: the (decompressed) document size, the frame count and
the output size are capped, and anything rlottie cannot read raises
:class:`AnimationError` instead of producing garbage. Rendering runs in a worker
thread, so a large sticker does not stall the bridge's event loop.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import zlib

__all__ = ["STICKER_SIZE", "AnimationError", "lottie_to_webp", "tgs_to_webp"]

#: A Lottie document larger than this (decompressed) is refused; Telegram's own
#: limit for a .tgs sticker is 64 KiB compressed.
MAX_DOCUMENT_BYTES = 1 << 20
#: At most this many frames are rendered (a longer animation is rendered at a
#: lower frame rate).
MAX_FRAMES = 180
#: The usual rendering size of a sticker: half of Telegram's 512 px, plenty on Matrix.
STICKER_SIZE = 256
MAX_FPS = 30
#: Only the first ten seconds of a longer animation are rendered.
MAX_SECONDS = 10


class AnimationError(Exception):
    """The data is not an animation this module can render (the message says why)."""


async def tgs_to_webp(data: bytes, size: int = STICKER_SIZE) -> bytes:
    """A Telegram ``.tgs`` sticker (gzipped Lottie JSON) as an animated WebP of
    ``size`` x ``size`` pixels."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as compressed:
            document = compressed.read(MAX_DOCUMENT_BYTES + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise AnimationError(f"not a gzipped Lottie document ({e})") from None
    return await lottie_to_webp(document, size)


async def lottie_to_webp(document: bytes, size: int = STICKER_SIZE) -> bytes:
    """A Lottie JSON document as an animated WebP of ``size`` x ``size`` pixels."""
    if len(document) > MAX_DOCUMENT_BYTES:
        raise AnimationError(f"the animation is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        text = document.decode()
        json.loads(text)  # rlottie's parser is not made for hostile input
    except (UnicodeDecodeError, ValueError) as e:
        raise AnimationError(f"not a Lottie JSON document ({e})") from None
    return await asyncio.to_thread(_render, text, max(16, min(size, 512)))


def _render(text: str, size: int) -> bytes:
    from rlottie_python import LottieAnimation

    try:
        animation = LottieAnimation.from_data(text)
    except Exception as e:
        raise AnimationError(f"rlottie could not load the animation ({e})") from None
    with animation:
        total = int(animation.lottie_animation_get_totalframe())
        fps = min(max(float(animation.lottie_animation_get_framerate()), 1.0), 120.0)
        total = min(total, int(fps * MAX_SECONDS))
        if total <= 0:
            raise AnimationError("the animation has no frames")
        step = max(1, -(-total // MAX_FRAMES), round(fps / MAX_FPS))
        frames = [
            animation.render_pillow_frame(frame_num=n, width=size, height=size)
            for n in range(0, total, step)
        ]
    output = io.BytesIO()
    try:
        frames[0].save(
            output,
            format="WEBP",
            save_all=True,
            append_images=frames[1:],
            duration=max(1, round(1000 * step / fps)),
            loop=0,
            quality=80,
        )
    except (OSError, ValueError, RuntimeError) as e:
        raise AnimationError(f"could not encode the animation ({e})") from None
    return output.getvalue()
