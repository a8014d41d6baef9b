"""The relay's federation (PROTOCOL.md §16, issue 15): peering, signed relay-to-relay requests,
forwarding envelopes to their recipients' home relays and acknowledgements back.

`state` holds what a running relay keeps in memory (imported by liaison/server/relay.py);
`requests` signs and authenticates requests; `peering` is the operator's side (`liaison peer`)
and the peering check; `routes` lists the federation routes the app factory adds.
"""
