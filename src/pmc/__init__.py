"""pmc: a compiler for event-sourced process managers."""

__version__ = "0.5.0.dev0"
