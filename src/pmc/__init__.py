"""pmc: a compiler for event-sourced process managers."""

__version__ = "0.4.0"
