"""The test suite, in folders that mirror bot/; a package so that tests import shared
support as `tests.x` and test files with equal names in two folders do not collide."""
