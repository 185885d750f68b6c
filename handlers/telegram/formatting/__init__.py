"""Telegram messages (HTML parse mode), one module per feature; import from those modules."""
