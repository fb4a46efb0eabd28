"""The Telegram bridge: a bridgekit network plugin on Telethon.

``TelegramConnector`` (in ``connector``) is the plugin; ``docs/telegram.md`` is the
operator's guide.
"""
