"""The Matrix side of the core: appservice transactions and event routing."""
