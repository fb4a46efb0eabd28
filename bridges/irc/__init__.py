"""The irc bridge."""
