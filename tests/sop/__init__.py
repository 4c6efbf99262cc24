"""Tests of bot/sop/: the SOP book, its preview and start-up."""
