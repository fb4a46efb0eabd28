"""Portals: remote chats and their Matrix rooms.

``portal.py`` holds the portal and its ordered queue, ``room.py`` creates and syncs
the room, ``remote.py`` handles network → Matrix events and ``matrix.py`` Matrix →
network events.
"""

from .portal import Portal

__all__ = ["Portal"]
