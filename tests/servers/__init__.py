"""Local test servers that speak real network protocols to stock client libraries.

Each subpackage is one server that runs in-process on 127.0.0.1 and is driven by the
test through a Python API (create accounts, act as another user, inject faults).
"""
