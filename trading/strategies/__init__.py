"""Strategies: `BaseStrategy`, and the registry of strategies by name."""
