"""A real InspIRCd 3 server for tests, on 127.0.0.1 and a free port.

:class:`InspIRCdServer` writes a config into a work directory, runs
``inspircd --nofork`` there and waits until the server completes a client
registration. The config enables the IRCv3 capabilities a bridge relies on
(``server-time``, ``echo-message``, ``message-tags``, ``msgid``, ``batch``,
``labeled-response``, ``account-tag``, ``chghost``, ``setname``...), turns flood
throttling off unless asked for, and defines an operator account
(:data:`OPER_NAME` / :data:`OPER_PASSWORD`).

InspIRCd 3 finishes a client's registration in its once-a-second housekeeping
pass, so every connection takes up to a second to receive ``001``: connect test
clients concurrently rather than one after another.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = [
    "MODULES",
    "OPER_NAME",
    "OPER_PASSWORD",
    "InspIRCdNotInstalledError",
    "InspIRCdServer",
    "InspIRCdStartError",
    "find_inspircd",
]

log = logging.getLogger("bridgekit.testing.inspircd")

OPER_NAME = "bridgekit"
OPER_PASSWORD = "bridgekit-oper-password"

#: Modules loaded on top of the core, each one because a bridge test needs it.
MODULES: tuple[str, ...] = (
    "cap",  # CAP negotiation itself
    "ircv3",  # account-notify, away-notify, extended-join
    "ircv3_servertime",  # server-time: the remote timestamp of each message
    "ircv3_echomessage",  # echo-message: our own messages come back with their msgid
    "ircv3_accounttag",  # account-tag
    "ircv3_msgid",  # msgid tag: de-duplication and reply/reaction targets
    "ircv3_ctctags",  # message-tags and TAGMSG (typing, reactions, replies)
    "ircv3_batch",  # batch, needed by labeled-response
    "ircv3_capnotify",  # cap-notify
    "ircv3_invitenotify",  # invite-notify
    "ircv3_labeledresponse",  # labeled-response: match replies to our commands
    "ircv3_chghost",  # chghost capability
    "chghost",  # CHGHOST command, so tests can trigger host changes
    "services_account",  # account extbans/modes that account-tag reports
    "setname",  # setname capability and command
    "monitor",  # MONITOR: presence of DM partners
    "namesx",  # multi-prefix
    "uhnames",  # userhost-in-names
    "botmode",  # +B user mode and the bot tag
)

_BINARY_CANDIDATES = ("/usr/sbin/inspircd", "/usr/bin/inspircd")
_HOST = "127.0.0.1"
_LOG_TAIL_CHARS = 4000

# Servers still running when the interpreter exits (a test run interrupted before
# its fixtures tore down) are killed so they do not outlive it.
_live_processes: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftover_processes() -> None:
    for proc in list(_live_processes):
        if proc.poll() is None:
            proc.kill()


class InspIRCdNotInstalledError(RuntimeError):
    """The InspIRCd binary was not found; the message says how to install it."""


class InspIRCdStartError(RuntimeError):
    """InspIRCd exited or did not accept a client in time; the message has its log tail."""


def find_inspircd() -> str:
    """Return the path of the ``inspircd`` binary or raise InspIRCdNotInstalledError."""
    found = shutil.which("inspircd")
    if found:
        return found
    for candidate in _BINARY_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    raise InspIRCdNotInstalledError(
        "InspIRCd is not installed (looked for `inspircd` on PATH and in "
        f"{', '.join(_BINARY_CANDIDATES)}): install it with `apt-get install -y inspircd`"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _quoted(value: str | Path) -> str:
    text = str(value)
    if '"' in text or "\n" in text:
        raise ValueError(f"cannot put {text!r} into an InspIRCd config value")
    return f'"{text}"'


class InspIRCdServer:
    """One InspIRCd process listening for clients on ``host``:``port``.

    The port is chosen when the object is created and kept for its whole life, so
    :meth:`restart` brings the server back where clients expect it. ``work_dir``
    holds the config, MOTD, pid file and logs; when omitted a temporary directory
    is created and removed again by :meth:`stop`.

    ``fakelag=False`` (the default) disables InspIRCd's flood throttling so tests
    run at full speed; ``fakelag=True`` keeps the server's stock limits (about one
    command per second after a burst of ten), which a test of a bridge's own flood
    control wants. ``extra_config`` is appended verbatim to the generated config.

    The blocking methods have ``*_async`` twins that run them in a worker thread,
    so a test's event loop (and a bridge under test in it) keeps running while
    the server goes down and comes back.
    """

    host: str = _HOST

    def __init__(
        self,
        work_dir: str | Path | None = None,
        *,
        fakelag: bool = False,
        extra_config: str = "",
        server_name: str = "irc.bridgekit.test",
        network_name: str = "BridgekitTest",
        port: int | None = None,
        binary: str | None = None,
    ) -> None:
        self.binary = binary or find_inspircd()
        self._owns_work_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="bridgekit-inspircd-"))
        self.fakelag = fakelag
        self.extra_config = extra_config
        self.server_name = server_name
        self.network_name = network_name
        self.port = port or _free_port()
        self.oper_name = OPER_NAME
        self.oper_password = OPER_PASSWORD
        self._proc: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None

    @property
    def config_path(self) -> Path:
        """The generated configuration file."""
        return self.work_dir / "inspircd.conf"

    @property
    def log_path(self) -> Path:
        """InspIRCd's own log file (connections, opers, errors)."""
        return self.work_dir / "inspircd.log"

    @property
    def output_path(self) -> Path:
        """The process's stdout and stderr (start-up and module loading messages)."""
        return self.work_dir / "inspircd.out"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def render_config(self) -> str:
        """Return the configuration text that :meth:`start` writes."""
        if self.fakelag:
            flood = 'fakelag="yes"'
        else:
            # commandrate is in millicommands per second; these values never trigger.
            flood = 'fakelag="no" commandrate="100000000" threshold="100000"'
        modules = "\n".join(f'<module name="{name}">' for name in MODULES)
        wd = self.work_dir
        return f"""\
<server name={_quoted(self.server_name)} description="bridgekit test server"
        network={_quoted(self.network_name)}>
<admin name="bridgekit tests" nick="admin" email="admin@bridgekit.test">
<path configdir={_quoted(wd)} datadir={_quoted(wd)} logdir={_quoted(wd)}
      runtimedir={_quoted(wd)}>
<pid file={_quoted(wd / "inspircd.pid")}>
<bind address="{self.host}" port="{self.port}" type="clients">
<files motd={_quoted(wd / "motd.txt")}>
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default"
     target={_quoted(self.log_path)}>
# Clients are not resolved; the resolver is still pinned so nothing leaves loopback.
<dns server="127.0.0.1" timeout="1">
<connect name="main" allow="*" timeout="20" pingfreq="120" maxchans="1000"
         hardsendq="16M" softsendq="1M" recvq="64K" {flood}
         localmax="1000" globalmax="1000" limit="5000"
         resolvehostnames="no" useident="no">
<class name="BridgekitEverything" commands="*" privs="*" usermodes="*" chanmodes="*"
       snomasks="*">
<type name="BridgekitAdmin" classes="BridgekitEverything">
<oper name={_quoted(self.oper_name)} password={_quoted(self.oper_password)}
      host="*@*" type="BridgekitAdmin">
{modules}
{self.extra_config}
"""

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and block until it completes a client registration.

        Raises InspIRCdStartError (with the end of the server's output and log) if
        the process exits or no client gets registered within ``timeout`` seconds.
        Starting a running server is an error.
        """
        if self.running:
            raise RuntimeError(f"InspIRCd is already running on port {self.port}")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.render_config())
        (self.work_dir / "motd.txt").write_text("bridgekit test server\n")
        args = [self.binary, f"--config={self.config_path}", "--nofork"]
        if os.geteuid() == 0:
            # InspIRCd refuses to run as root without being told that is intended.
            args.append("--runasroot")
        self._output = self.output_path.open("ab")
        self._proc = subprocess.Popen(
            args,
            cwd=self.work_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )
        _live_processes.add(self._proc)
        log.info("Started InspIRCd (pid %d) on %s:%d", self._proc.pid, self.host, self.port)
        try:
            self._wait_until_ready(time.monotonic() + timeout)
        except BaseException:
            self._terminate()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` seconds).

        A work directory this object created itself is removed; stopping a server
        that is not running only does that clean-up.
        """
        self._terminate(timeout)
        if self._owns_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def restart(self, timeout: float = 20.0, downtime: float = 0.0) -> None:
        """Stop the server, wait ``downtime`` seconds, and start it on the same port.

        Every client is disconnected; the log and work directory are kept.
        """
        self._terminate()
        if downtime > 0:
            time.sleep(downtime)
        self.start(timeout)

    # The async twins name their limits differently from the blocking methods: the
    # limit bounds the server's start-up or shutdown, not the awaiting caller.
    async def start_async(self, startup_timeout: float = 20.0) -> None:
        """:meth:`start` without blocking the event loop."""
        await asyncio.to_thread(self.start, startup_timeout)

    async def stop_async(self, kill_after: float = 10.0) -> None:
        """:meth:`stop` without blocking the event loop."""
        await asyncio.to_thread(self.stop, kill_after)

    async def restart_async(self, startup_timeout: float = 20.0, downtime: float = 0.0) -> None:
        """:meth:`restart` without blocking the event loop."""
        await asyncio.to_thread(self.restart, startup_timeout, downtime)

    def __enter__(self) -> InspIRCdServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<InspIRCdServer {self.host}:{self.port} {state}>"

    def _terminate(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("InspIRCd (pid %d) ignored SIGTERM, killing it", proc.pid)
                    proc.kill()
                    proc.wait()
            _live_processes.discard(proc)
            log.info("InspIRCd on port %d stopped (exit code %s)", self.port, proc.returncode)
        if self._output is not None:
            self._output.close()
            self._output = None

    def _wait_until_ready(self, deadline: float) -> None:
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                code = self._proc.returncode if self._proc else None
                raise InspIRCdStartError(
                    f"InspIRCd exited during start-up (exit code {code}).\n{self._diagnostics()}"
                )
            try:
                self._register_probe_client(deadline)
                return
            except OSError as e:
                last_error = e
                time.sleep(0.05)
        raise InspIRCdStartError(
            f"InspIRCd did not register a client on {self.host}:{self.port} in time "
            f"(last error: {last_error!r}).\n{self._diagnostics()}"
        )

    def _register_probe_client(self, deadline: float) -> None:
        """Connect, register and quit; raise OSError unless ``001`` arrives."""
        nick = f"probe{secrets.token_hex(3)}"
        remaining = max(deadline - time.monotonic(), 0.1)
        with socket.create_connection((self.host, self.port), timeout=remaining) as sock:
            sock.sendall(f"NICK {nick}\r\nUSER {nick} 0 * :probe\r\n".encode())
            buffer = b""
            while True:
                sock.settimeout(max(deadline - time.monotonic(), 0.1))
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("InspIRCd closed the probe connection")
                buffer += chunk
                *lines, buffer = buffer.split(b"\r\n")
                for line in lines:
                    words = line.split(b" ")
                    if words[0] == b"PING":
                        sock.sendall(b"PONG " + b" ".join(words[1:]) + b"\r\n")
                    elif len(words) > 1 and words[1] == b"001":
                        sock.sendall(b"QUIT :ready\r\n")
                        return
                    elif words[0] == b"ERROR":
                        raise ConnectionError(line.decode(errors="replace"))

    def _diagnostics(self) -> str:
        parts = []
        for path in (self.output_path, self.log_path):
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            parts.append(f"--- {path} (end) ---\n{text[-_LOG_TAIL_CHARS:]}")
        return "\n".join(parts) or "(InspIRCd wrote no output)"
