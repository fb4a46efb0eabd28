"""Tests of the IRC bridge: protocol client, splitter, formatter."""
