"""The plugin author's guide (docs/plugin-guide.md) builds a plugin that works.

The plugin is assembled from the guide's own code blocks (each headed by its file
name; "continued" blocks are appended), so the guide cannot drift from what runs. It
is then installed like any third-party distribution, found through the
``bridgekit.networks`` entry point, and its own tests run in a separate pytest that
starts its own Synapse through the test kit: an outsider's experience, end to end.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridgekit.cli import find_network
from bridgekit.network import NetworkConnector

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugin-guide.md"
DISTRIBUTION = "bridgekit-minichat"
CAPTION = re.compile(r"^\*\*`[^`]+`\*\*", re.M)
BLOCK = re.compile(
    r"^\*\*`(?P<path>[^`]+)`\*\*(?P<continued> \(continued\))?\n\n"
    r"```[a-z]*\n(?P<body>.*?)\n```$",
    re.M | re.S,
)
EXPECTED_FILES = {
    "pyproject.toml",
    "src/minichat/__init__.py",
    "src/minichat/__main__.py",
    "src/minichat/client.py",
    "src/minichat/connection.py",
    "src/minichat/connector.py",
    "src/minichat/login.py",
    "src/minichat/server.py",
    "tests/conftest.py",
    "tests/test_minichat.py",
}


def guide_files() -> dict[str, str]:
    """The files the guide's code blocks make, by relative path."""
    text = GUIDE.read_text()
    files: dict[str, str] = {}
    blocks = list(BLOCK.finditer(text))
    assert len(blocks) == len(CAPTION.findall(text)), "a file caption without its code block"
    for block in blocks:
        path, body = block["path"], block["body"]
        if block["continued"]:
            assert path in files, f"{path}: a continued block before the file's first one"
            files[path] += "\n" + body + "\n"
        else:
            assert path not in files, f"{path}: two blocks start this file"
            files[path] = body + "\n"
    return files


def write_plugin(directory: Path) -> Path:
    for relative, content in guide_files().items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    return directory


def _run(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_the_guide_makes_a_complete_lint_clean_plugin(tmp_path: Path) -> None:
    assert set(guide_files()) == EXPECTED_FILES
    plugin = write_plugin(tmp_path / DISTRIBUTION)
    rules = ["--line-length", "100", "--select", "E,F,W,I,B,UP,ASYNC,RUF"]
    lint = _run("-m", "ruff", "check", "--no-cache", *rules, ".", cwd=plugin)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = _run(
        "-m", "ruff", "format", "--no-cache", "--check", "--line-length", "100", ".", cwd=plugin
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.fixture
def installed_plugin(tmp_path: Path) -> Iterator[Path]:
    """The guide's plugin, pip-installed (not editable) into this environment, and
    uninstalled afterwards."""
    plugin = write_plugin(tmp_path / DISTRIBUTION)
    install = _run("-m", "pip", "install", "--quiet", "--no-deps", ".", cwd=plugin, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    importlib.invalidate_caches()
    try:
        yield plugin
    finally:
        _run("-m", "pip", "uninstall", "--quiet", "--yes", DISTRIBUTION, cwd=tmp_path)
        for name in [m for m in sys.modules if m == "minichat" or m.startswith("minichat.")]:
            del sys.modules[name]
        importlib.invalidate_caches()


def test_the_guides_plugin_is_found_runs_and_passes_its_own_tests(
    installed_plugin: Path, tmp_path: Path
) -> None:
    factory = find_network("minichat")
    connector = factory()
    assert isinstance(connector, NetworkConnector)
    assert connector.name.network_id == "minichat"
    # The installed copy, not the source directory.
    module_file = Path(sys.modules[type(connector).__module__].__file__ or "")
    assert installed_plugin not in module_file.parents

    # The first start writes the config the guide shows.
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    first = _run("-m", "minichat", cwd=run_dir)
    assert first.returncode == 0, first.stderr
    shown = re.search(
        r"```yaml\n(# Settings of the MiniChat network\..*?)\n```", GUIDE.read_text(), re.S
    )
    assert shown is not None
    assert (run_dir / "config.yaml").read_text().rstrip().endswith(shown.group(1))

    tests = _run(
        "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", cwd=installed_plugin, timeout=300
    )
    report = tests.stdout + tests.stderr
    assert tests.returncode == 0, report
    assert "PASSED tests/test_minichat.py::test_login_then_messages_both_ways[sqlite]" in report
    assert "PASSED tests/test_minichat.py::test_wrong_password_is_refused" in report
