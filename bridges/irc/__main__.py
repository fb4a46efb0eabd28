"""Run the IRC bridge: ``python -m bridges.irc`` or ``bridgekit-irc``."""

from __future__ import annotations

from bridgekit.cli import main as run_bridge

from .connector import IRCConnector


def main() -> None:
    """Command-line entry point of the IRC bridge."""
    run_bridge(IRCConnector)


if __name__ == "__main__":
    main()
