"""Tests of bot/sidebar/: access rules and the page in a real browser."""
