"""Tests of the running bot: dispatch, replay, replicas, group sync and operations."""
