"""Errors of end-to-bridge encryption that the rest of the bridge handles, in a module
of their own: the crypto libraries load only when encryption is on."""

from __future__ import annotations


class DecryptionFailed(Exception):
    """An event could not be decrypted (the message says why, for the user)."""
