"""End-to-end fixtures (tests/e2e/e2e_fixtures.py): a relay per test, cheap keystores, the CLI."""

from tests.e2e.e2e_fixtures import (  # noqa: F401  (fixtures: pytest finds them by name here)
    any_relay,
    cheap_kdf,
    cli,
    module_relay,
    pg_relay,
    relay,
)
