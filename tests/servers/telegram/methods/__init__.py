"""RPC handlers, one module per API area; importing this package registers them all."""

from . import auth, chats, forums, help, history, messages, updates, upload, users

__all__ = ["auth", "chats", "forums", "help", "history", "messages", "updates", "upload", "users"]
