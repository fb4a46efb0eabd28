"""Errors a network raises to tell a Matrix user what went wrong."""

from __future__ import annotations


class BridgeError(Exception):
    """An event could not be bridged. The message is shown to the Matrix user who sent
    it, as it is: say what happened and what to do."""
