"""Tests of bot/simulator/: the local WeCom stays faithful to the real one."""
