"""Audit tests reuse the end-to-end fixtures: a relay thread per test, the CLI runner."""

from tests.e2e.e2e_fixtures import cheap_kdf, cli, relay  # noqa: F401  (fixtures, found by name)
