"""Tests of bot/handlers/: members after the welcome (groups, tags, deletions)."""
