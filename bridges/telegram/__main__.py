"""``python -m bridges.telegram``: run the Telegram bridge (see ``bridgekit.cli``)."""

from __future__ import annotations

from bridgekit.cli import main as cli_main

from .connector import TelegramConnector


def main() -> None:
    """Entry point of the ``bridgekit-telegram`` console script."""
    cli_main(TelegramConnector)


if __name__ == "__main__":
    main()
