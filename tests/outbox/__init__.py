"""Tests of bot/outbox/: SOP delivery (群发, robots) and owner posts."""
