"""Pictures WeCom hosts for the bot: the check of what operators name, uploads once by
content hash (docs/cards.md)."""
