"""Running a bridge from the command line.

``python -m bridgekit.cli --network NAME`` (or a bridge's own ``python -m
bridges.<network>``, which calls ``main`` with its connector):

- no config file yet: write the example config and say which fields to fill in;
- ``-g``: generate the registration (random tokens) and save the tokens in the config;
- otherwise: validate the config and run the bridge until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path

from ruamel.yaml import YAML

from .config import Config, ConfigError, example_config, validate
from .network.connector import NetworkConnector
from .registration import generate_tokens, registration_from_config

log = logging.getLogger("bridgekit.cli")

ConnectorFactory = Callable[[], NetworkConnector]


def find_network(name: str) -> ConnectorFactory:
    """The connector class registered as ``name`` in the ``bridgekit.networks`` group."""
    found = {ep.name: ep for ep in entry_points(group="bridgekit.networks")}
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise SystemExit(f"No network plugin named {name!r} is installed (installed: {known}).")
    factory: ConnectorFactory = found[name].load()
    return factory


def _example(connector: NetworkConnector, port: int = 29300) -> str:
    name = connector.name
    return example_config(name.network_id, name.display_name, port, connector.example_config)


def write_registration(
    config_path: Path, example: str, path: Path, environ: Mapping[str, str]
) -> Config:
    """Generate tokens into the config file, and write the registration to ``path``.

    The file gets only the new tokens: values from ``BRIDGEKIT__`` environment
    variables are not written into it (they stay the environment's to change). The
    registration is made from the config as the bridge will see it, environment
    included. Returns that config."""
    stored = Config.load(config_path, example)
    generate_tokens(stored)
    stored.save()
    os.chmod(config_path, 0o600)  # it holds the same tokens as the registration
    config = Config.load(config_path, example, save=False)
    config.apply_env(environ)
    yaml = YAML()
    with path.open("w") as stream:
        yaml.dump(registration_from_config(config), stream)
    os.chmod(path, 0o600)
    return config


async def _run(connector: NetworkConnector, config: Config) -> None:
    from .bridge import Bridge

    bridge = Bridge(connector, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await bridge.start()
        await stop.wait()
    finally:
        # Also after a failed start: an open database (aiosqlite's thread) would keep
        # the process alive, and a supervisor would never restart it.
        await bridge.stop()


def _check_config(config: Config, registration: Path, connector: NetworkConnector) -> int:
    from .doctor import run_checks

    checks = asyncio.run(run_checks(config, registration, connector))
    for check in checks:
        print(check)
    failed = [c for c in checks if not c.ok]
    print("All checks passed." if not failed else f"{len(failed)} check(s) failed.")
    return 1 if failed else 0


#: The placeholder server name of the example config.
_EXAMPLE_DOMAIN = "example.org"


def main(factory: ConnectorFactory | None = None, argv: list[str] | None = None) -> None:
    """Command-line entry point of a bridge."""
    parser = argparse.ArgumentParser(description="Run a bridgekit bridge.")
    if factory is None:
        parser.add_argument("--network", required=True, help="the network plugin to run")
    parser.add_argument("-c", "--config", type=Path, default=Path("config.yaml"))
    parser.add_argument("-g", "--generate-registration", action="store_true")
    parser.add_argument("-r", "--registration", type=Path, default=Path("registration.yaml"))
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="check the config, registration, database and homeserver, then exit",
    )
    args = parser.parse_args(argv)
    connector = (factory or find_network(args.network))()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.config.exists():
        args.config.write_text(_example(connector))
        print(
            f"Wrote an example config to {args.config}. Fill in homeserver.address, "
            "homeserver.domain, appservice.address and bridge.permissions, then run with -g "
            "to generate the registration."
        )
        sys.exit(0)
    try:
        if args.generate_registration:
            write_registration(args.config, _example(connector), args.registration, os.environ)
            print(
                f"Wrote {args.registration}. Add its path to app_service_config_files in your "
                "homeserver's config, restart the homeserver, then start the bridge."
            )
            written = Config.load(args.config, _example(connector))
            written.apply_env(os.environ)
            if written.get("homeserver.domain") == _EXAMPLE_DOMAIN:
                print(
                    f"Note: homeserver.domain is still {_EXAMPLE_DOMAIN}, the example's. If your "
                    "server name (the part after the colon in your user IDs) differs, set it "
                    "and run -g again: the registration's user namespaces depend on it."
                )
            sys.exit(0)
        config = Config.load(args.config, _example(connector))
        if config.unknown:
            print(
                f"Warning: {args.config} had settings this bridge does not know, now left "
                f"out of it: {', '.join(config.unknown)}. Check their spelling against the "
                "example config.",
                file=sys.stderr,
            )
        config.apply_env(os.environ)
        if args.check_config:
            sys.exit(_check_config(config, args.registration, connector))
        level = str(config.get("logging.level") or "INFO").upper()
        logging.getLogger().setLevel(level)
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            # aiohttp logs every request at INFO: a line (and its formatting) for each
            # homeserver transaction, so one per bridged message. Kept at DEBUG.
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
        validate(config)
    except ConfigError as e:
        sys.exit(str(e))
    from .bridge import StartupError

    try:
        asyncio.run(_run(connector, config))
    except StartupError as e:
        sys.exit(f"The bridge could not start: {e}")


if __name__ == "__main__":
    main()
