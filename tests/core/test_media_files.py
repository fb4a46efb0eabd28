"""Matrix media handed to a network as a file on disk: safe names, streaming, cleanup."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridgekit.network import MatrixMedia, MediaTooLarge, safe_filename


@given(st.text(max_size=400))
def test_a_safe_file_name_stays_in_its_directory(name: str) -> None:
    safe = safe_filename(name)
    assert safe and safe not in (".", "..") and not safe.startswith(".")
    assert "/" not in safe and "\\" not in safe and "\0" not in safe
    assert len(safe.encode()) <= 200
    directory = Path("/srv/bridge/media")
    assert (directory / safe).resolve().parent == directory


def test_safe_names_keep_what_they_can() -> None:
    assert safe_filename("cat.png") == "cat.png"
    assert safe_filename("../../etc/passwd") == "_.._etc_passwd"
    assert safe_filename("..") == "file"
    assert safe_filename("a\nb\x00c.txt") == "a_b_c.txt"
    long = safe_filename("ж" * 300 + ".tar.gz")
    assert long.endswith(".gz") and len(long.encode()) <= 200


def _media(data: bytes, name: str = "../secret.bin") -> MatrixMedia:
    async def fetch(out: BinaryIO) -> int:
        for start in range(0, len(data), 1000):
            out.write(data[start : start + 1000])
        return len(data)

    return MatrixMedia("application/octet-stream", name, len(data), "mxc://x/y", fetch)


async def test_open_gives_the_file_on_disk_under_its_name_and_deletes_it_after() -> None:
    data = bytes(range(256)) * 50
    media = _media(data)
    async with media.open() as file:
        assert file.path.name == "_secret.bin"
        assert file.size == len(data)
        assert file.file.read() == data
        assert file.path.read_bytes() == data
        path = file.path
    assert not path.exists() and not path.parent.exists()
    assert await media.download() == data


async def test_a_failed_download_leaves_no_file_behind() -> None:
    written: list[Path] = []

    async def fetch(out: BinaryIO) -> int:
        out.write(b"partial")
        written.append(Path(getattr(out, "name", "")))
        raise MediaTooLarge(10_000, 10, "big.bin")

    media = MatrixMedia("application/octet-stream", "big.bin", None, "mxc://x/y", fetch)
    with pytest.raises(MediaTooLarge):
        async with media.open():
            pass
    assert written and not written[0].exists()
    with pytest.raises(MediaTooLarge):
        await media.download()
