"""The README's main-job command: the IRC demo bridges a message each way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_irc_demo_check_sends_a_message_each_way(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridges.irc.demo", "--check", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "IRC → Matrix: arrived" in result.stdout
    assert "Matrix → IRC: arrived" in result.stdout
