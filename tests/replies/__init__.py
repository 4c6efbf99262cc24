"""Tests of bot/replies/: the 话术 library, its ranking and commands."""
