"""Print-ready QR cards per store and channel, and the 「二维码」 app command (docs/cards.md)."""
