"""Bot commands, one module per group: ``general``, ``login``, ``portal``."""

from .processor import Command, CommandEvent, CommandProcessor

__all__ = ["Command", "CommandEvent", "CommandProcessor"]
