"""Tests of bot/channels/: the channel book and the welcomes it sends."""
