"""The bridgekit test kit: run a bridge against a real homeserver, database and network servers.

It is a pytest plugin (registered through the ``pytest11`` entry point, so installing
bridgekit is enough) whose fixtures start real servers once per test session.
"""
