"""Messages on an officer's device, one name for the four steps kept in their own modules:
`send` (client/send.py), `sync` (client/sync.py), `inbox`/`read`/`ack` (client/read.py) and
`watch` (client/watch.py)."""

from __future__ import annotations

from liaison.client.addresses import Address
from liaison.client.officer import authenticated
from liaison.client.read import OpenedMessage, ack, inbox, read
from liaison.client.send import SentMessage, send
from liaison.client.sync import sync
from liaison.client.watch import watch

__all__ = [
    "Address",
    "OpenedMessage",
    "SentMessage",
    "ack",
    "authenticated",
    "inbox",
    "read",
    "send",
    "sync",
    "watch",
]
