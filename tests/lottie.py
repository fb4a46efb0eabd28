"""A small Lottie animation for sticker tests: a red square moving left to right."""

from __future__ import annotations

import gzip
import json
from typing import Any


def moving_square(frames: int = 30) -> dict[str, Any]:
    """A 512x512 Lottie document, 30 fps, ``frames`` long: a 100 px red square whose
    centre moves from (128, 256) to (384, 256)."""
    moving = {
        "a": 1,
        "k": [
            {
                "t": 0,
                "s": [128, 256, 0],
                "i": {"x": [0.5], "y": [0.5]},
                "o": {"x": [0.5], "y": [0.5]},
            },
            {"t": frames, "s": [384, 256, 0]},
        ],
    }
    square = [
        {
            "ty": "rc",
            "d": 1,
            "s": {"a": 0, "k": [100, 100]},
            "p": {"a": 0, "k": [0, 0]},
            "r": {"a": 0, "k": 0},
        },
        {"ty": "fl", "c": {"a": 0, "k": [1, 0, 0, 1]}, "o": {"a": 0, "k": 100}},
    ]
    layer = {
        "ty": 4,
        "ind": 1,
        "ip": 0,
        "op": frames,
        "st": 0,
        "ks": {"p": moving, "o": {"a": 0, "k": 100}, "a": {"a": 0, "k": [0, 0, 0]}},
        "shapes": square,
    }
    return {"v": "5.5.2", "fr": 30, "ip": 0, "op": frames, "w": 512, "h": 512, "layers": [layer]}


def tgs(frames: int = 30) -> bytes:
    """:func:`moving_square` as a Telegram ``.tgs`` sticker (gzipped JSON)."""
    return gzip.compress(json.dumps(moving_square(frames)).encode())


def is_red(pixel: Any) -> bool:
    """About the square's red (WebP is lossy), and opaque."""
    r, g, b, a = pixel
    return bool(r > 200 and g < 50 and b < 50 and a > 200)
