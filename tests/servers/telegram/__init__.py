"""A local Telegram (MTProto) server for testing Telethon clients without the internet.

Stock Telethon connects to it over TCP on 127.0.0.1: the server makes its own RSA
key (registered with Telethon by :meth:`TelegramTestServer.start`), runs the real
auth key exchange and MTProto 2.0 encryption, and serves an in-memory world of
users, groups, channels and messages that the test drives through a Python API.
See README.md in this folder for a tour.
"""

from .faults import Faults
from .rpc import RpcError
from .server import TelegramTestServer
from .world import BasicGroup, Channel, Post, Topic, User

__all__ = [
    "BasicGroup",
    "Channel",
    "Faults",
    "Post",
    "RpcError",
    "TelegramTestServer",
    "Topic",
    "User",
]
