"""Tests of bot/wecom/: the callback endpoint, parsing, crypto, events, rate limits, transport."""
