"""``python -m bridges.discord``: run the Discord bridge (see ``bridgekit.cli``)."""

from __future__ import annotations

from bridgekit.cli import main as cli_main

from .connector import DiscordConnector


def main() -> None:
    """Run the Discord bridge from the command line."""
    cli_main(DiscordConnector)


if __name__ == "__main__":
    main()
