"""Relay-to-relay federation logic (PROTOCOL.md §16), sans-io: the outbound queue state machine,
the inbound duplicate check and the checks a relay makes of a peer's answers. The relay and
the officer's client import it; it imports only crypto (pyproject.toml import contracts)."""
