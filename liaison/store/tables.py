"""The relay's database tables (SQLAlchemy Core); Alembic migrations create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
Serial = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

# One row (id = 1) holding the log size: every batch that writes locks it (SQLite has a single
# writer), so all processes see one order. On PostgreSQL each such batch also raises `version`
# (revision 0010): a batch of sends reads it unlocked, runs its jobs, and locks the row only
# with its writes, if the version has not moved (liaison/store/writer.py).
log_head = Table(
    "log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False, server_default="0"),
)

log_entries = Table(
    "log_entries",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# The Merkle tree's full tiles (revision 0008), in the manner of C2SP tlog-tiles: tile `idx` of
# tile level `level` holds the 256 concatenated hashes of tree level 8·level, nodes
# 256·idx .. 256·idx + 255 (level 0: leaf hashes). Written in the transaction that completes
# them; the partial tiles on the right edge are not stored but recomputed at start (from the
# log's tail and the roots of the full tiles below), so start time and memory do not grow
# with the log (liaison/server/log.py).
merkle_tiles = Table(
    "merkle_tiles",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
)

agencies = Table(
    "agencies",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("country", String(2), nullable=False),
    Column("name_vi", Text, nullable=False),
    Column("name_zh", Text, nullable=False),
    Column("root_key", LargeBinary, nullable=False),
    Column("log_index", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

review_statements = Table(
    "review_statements",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("agency", String(64), ForeignKey("agencies.code"), nullable=False),
    Column("key_id", String(128), nullable=False),
    Column("statement", LargeBinary, nullable=False),
    Column("statement_hash", LargeBinary, nullable=False, unique=True),
    Column("log_index", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
Index("ix_review_statements_agency", review_statements.c.agency)

certificates = Table(
    "certificates",
    metadata,
    Column("device_id", String(200), primary_key=True),
    Column("agency", String(64), ForeignKey("agencies.code"), nullable=False),
    Column("certificate", LargeBinary, nullable=False),
    Column("cert_hash", LargeBinary, nullable=False, unique=True),
    Column("signing_key", LargeBinary, nullable=False),
    Column("encryption_key", LargeBinary, nullable=False),
    Column("not_before", BigInteger, nullable=False),
    Column("not_after", BigInteger, nullable=False),
    Column("log_index", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
Index("ix_certificates_agency", certificates.c.agency)

revocations = Table(
    "revocations",
    metadata,
    Column("device_id", String(200), ForeignKey("certificates.device_id"), primary_key=True),
    Column("revocation", LargeBinary, nullable=False),
    Column("revocation_hash", LargeBinary, nullable=False),
    Column("log_index", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

auth_challenges = Table(
    "auth_challenges",
    metadata,
    Column("challenge", LargeBinary, primary_key=True),
    Column("device_id", String(200), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used", Integer, nullable=False, server_default="0"),
)

# Tokens are stored as SHA-256 of the bearer value, so a database dump lends no session.
auth_tokens = Table(
    "auth_tokens",
    metadata,
    Column("token_hash", LargeBinary, primary_key=True),
    Column("device_id", String(200), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

envelopes = Table(
    "envelopes",
    metadata,
    Column("message_id", String(32), primary_key=True),
    Column("envelope_hash", LargeBinary, nullable=False, unique=True),
    Column("sender_device", String(200), nullable=False),
    Column("counter", BigInteger, nullable=False),
    Column("envelope", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    Column("log_index", BigInteger, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    # Set when retention deleted the ciphertext (`envelope` is then empty; revision 0003).
    Column("purged_at", BigInteger, nullable=True),
    UniqueConstraint("sender_device", "counter", name="uq_envelopes_sender_counter"),
)
# A month's or a day's traffic, and retention's candidates (revision 0004).
Index("ix_envelopes_received_at", envelopes.c.received_at)
# What a device sent in a period (revision 0010; see ix_deliveries_device_received).
Index("ix_envelopes_sender_received", envelopes.c.sender_device, envelopes.c.received_at)
# Retention's candidates, those still holding ciphertext, by arrival time (revision 0008): the
# purge no longer walks past years of purged envelopes to find them.
Index(
    "ix_envelopes_live_received_at",
    envelopes.c.received_at,
    postgresql_where=envelopes.c.purged_at.is_(None),
    sqlite_where=envelopes.c.purged_at.is_(None),
)
# (ix_envelopes_sender_prefix and ix_deliveries_device_prefix, revision 0004, are dropped by
# revision 0008: the review and audit queries start from the time range, and a device-prefix
# index only let PostgreSQL read an agency's whole history instead.)

deliveries = Table(
    "deliveries",
    metadata,
    Column("cursor", Serial, primary_key=True, autoincrement=True),
    Column("message_id", String(32), ForeignKey("envelopes.message_id"), nullable=False),
    Column("device_id", String(200), nullable=False),
    Column("acknowledged_at", BigInteger, nullable=True),
    Column("ack_log_index", BigInteger, nullable=True),
    # The envelope's arrival time, repeated (revision 0010; set by every insert, filled for older
    # rows by the migration): a device's deliveries of a period are one index range.
    Column("received_at", BigInteger, nullable=True),
    UniqueConstraint("device_id", "message_id", name="uq_deliveries_device_message"),
)
Index("ix_deliveries_device_cursor", deliveries.c.device_id, deliveries.c.cursor)
# A device's waiting deliveries (revision 0008): the inbox no longer walks past the device's
# years of acknowledged ones.
Index(
    "ix_deliveries_waiting",
    deliveries.c.device_id,
    deliveries.c.cursor,
    postgresql_where=deliveries.c.acknowledged_at.is_(None),
    sqlite_where=deliveries.c.acknowledged_at.is_(None),
)
# The recipients of an envelope (review, audit, retention; revision 0004), with their device
# ids (revision 0008): "delivered to a device of this agency" is read from the index alone.
Index("ix_deliveries_message_device", deliveries.c.message_id, deliveries.c.device_id)
# An officer's review list (revision 0010): each of the officer's devices' deliveries, and what
# each sent, in a period, read as one index range per device (liaison/store/review.py). On
# PostgreSQL both device-id columns use the "C" collation, so that the walk from one device id
# to the next by `>` and `<` stays inside an officer's prefix.
Index("ix_deliveries_device_received", deliveries.c.device_id, deliveries.c.received_at)

# Review keys sealed to supervisor devices (ciphertext only; revision 0002): one per
# (device, review key), replaced by a newer root-signed wrap.
review_key_wraps = Table(
    "review_key_wraps",
    metadata,
    Column("device_id", String(200), primary_key=True),
    Column("key_id", String(128), primary_key=True),
    Column("agency", String(64), ForeignKey("agencies.code"), nullable=False),
    Column("wrap", LargeBinary, nullable=False),
    Column("wrap_hash", LargeBinary, nullable=False),
    Column("issued_at", BigInteger, nullable=False),
    Column("log_index", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
Index("ix_review_key_wraps_agency", review_key_wraps.c.agency)

# Review requests honoured (revision 0006): a signed request is released once, whatever the
# number of times it is posted (issue 14, defect 6). The reason hash is salted afresh for each
# request, so two reviews in the same second are two requests; a replay is the same one.
review_requests = Table(
    "review_requests",
    metadata,
    Column("device_id", String(200), primary_key=True),
    Column("message_id", String(32), primary_key=True),
    Column("requested_at", BigInteger, primary_key=True, autoincrement=False),
    Column("reason_hash", LargeBinary(32), primary_key=True),
    Column("log_index", BigInteger, nullable=False),
)

# Witnesses the operator registered (`liaison witness add`, revision 0006): only their
# cosignatures are accepted (issue 14, defect 1).
witnesses = Table(
    "witnesses",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("witness_key", LargeBinary(32), primary_key=True),
    Column("added_at", BigInteger, nullable=False),
)

# Witness cosignature lines over the log's own checkpoints (revision 0006): the newest per
# registered (witness, key), whatever anyone else submits.
cosignatures = Table(
    "cosignatures",
    metadata,
    Column("witness", String(200), primary_key=True),
    Column("witness_key", LargeBinary(32), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("line", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Retention of ciphertext per agency, set by the operator (revision 0003).
retention_periods = Table(
    "retention_periods",
    metadata,
    Column("agency", String(64), ForeignKey("agencies.code"), primary_key=True),
    Column("days", Integer, nullable=False),
    Column("log_index", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Keyed hashes of case references attached by senders, one per party agency (revision 0003).
case_tags = Table(
    "case_tags",
    metadata,
    Column("message_id", String(32), primary_key=True),
    Column("tag", LargeBinary, primary_key=True),
)
Index("ix_case_tags_tag", case_tags.c.tag)

legal_holds = Table(
    "legal_holds",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("agency", String(64), ForeignKey("agencies.code"), nullable=False),
    Column("tag", LargeBinary, nullable=False),
    Column("placed_by", String(200), nullable=False),
    Column("reason_hash", LargeBinary, nullable=False),
    Column("placed_at", BigInteger, nullable=False),
    Column("log_index", BigInteger, nullable=False),
    Column("released_at", BigInteger, nullable=True),
    Column("release_log_index", BigInteger, nullable=True),
)
Index("ix_legal_holds_tag", legal_holds.c.tag)

# Attachment blobs the relay holds (revision 0005): the bytes are files under the data folder
# (liaison/server/blobs.py); these rows say who uploaded each and which envelopes declare it.
blobs = Table(
    "blobs",
    metadata,
    Column("blob_id", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("uploader_device", String(200), nullable=False),
    Column("agency", String(64), nullable=False),
    Column("completed_at", BigInteger, nullable=False),
)
Index("ix_blobs_agency", blobs.c.agency)

envelope_blobs = Table(
    "envelope_blobs",
    metadata,
    # No foreign key to envelopes (like case_tags): the envelope row is written later in the
    # same batch (MailboxWrites.insert_envelope).
    Column("message_id", String(32), primary_key=True),
    Column("blob_id", String(64), ForeignKey("blobs.blob_id"), primary_key=True),
)
Index("ix_envelope_blobs_blob", envelope_blobs.c.blob_id)

# --- federation (revision 0007; PROTOCOL.md §16) ---------------------------------------------

# The relays this relay peers with (`liaison peer add`): origin and log key as the operator
# checked them by fingerprint; `state` active | removed. `mutual_at`: when the peer last
# answered the signed peering check with 200 (it has this relay in its table too).
peers = Table(
    "peers",
    metadata,
    Column("origin", String(255), primary_key=True),
    Column("url", Text, nullable=False),
    Column("log_key", LargeBinary(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("added_at", BigInteger, nullable=False),
    Column("removed_at", BigInteger, nullable=True),
    Column("last_seen_at", BigInteger, nullable=True),
    Column("mutual_at", BigInteger, nullable=True),
    # The newest checkpoint of the peer's log this relay verified (signed note text).
    Column("checkpoint", Text, nullable=True),
    Column("checkpoint_size", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("log_index", BigInteger, nullable=False),
    # Witnessing the peer's log (revision 0012, PROTOCOL.md §16.7): the newest checkpoint of
    # the peer this relay cosigned; once the peer showed one that does not extend it, when and
    # why it was distrusted and the evidence (JSON, §13 format). Cleared only by removing the
    # peer and adding it again.
    Column("cosigned_checkpoint", Text, nullable=True),
    Column("cosigned_size", BigInteger, nullable=True),
    Column("cosigned_at", BigInteger, nullable=True),
    Column("distrusted_at", BigInteger, nullable=True),
    Column("distrust_reason", Text, nullable=True),
    Column("misbehaviour", Text, nullable=True),
)

# Which relay each agency lives on, when not this one (filled by `liaison peer home`, and by
# home statements): the sending relay forwards to the home relay of each recipient's agency.
agency_homes = Table(
    "agency_homes",
    metadata,
    Column("agency", String(64), primary_key=True),
    Column("relay_origin", String(255), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)
Index("ix_agency_homes_relay", agency_homes.c.relay_origin)

# The durable outbound queue per peer (liaison/federation/outbound.py OutboundRow): envelopes
# (kind "envelope") and device acknowledgements travelling back (kind "ack").
federation_outbound = Table(
    "federation_outbound",
    metadata,
    Column("peer", String(255), primary_key=True),
    Column("message_id", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("sender_device", String(200), nullable=False),
    Column("envelope_hash", LargeBinary(32), nullable=False),
    Column("enqueued_at", Float, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("last_error", Text, nullable=True),
)
Index("ix_federation_outbound_state", federation_outbound.c.peer, federation_outbound.c.state)

# Device acknowledgements of forwarded envelopes, to send back to the sending relay as signed
# `acknowledged` peer acks (one per device and message).
federation_acks_out = Table(
    "federation_acks_out",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("peer", String(255), nullable=False),
    Column("ack", LargeBinary, nullable=False),  # the signed PeerAck bytes
    Column("created_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger, nullable=True),
)
Index("ix_federation_acks_out_peer", federation_acks_out.c.peer, federation_acks_out.c.sent_at)

# Envelopes a peer forwarded here (the receiving side's duplicate check, classify_inbound):
# message id, hash, and the signed `logged` acknowledgement answered for it.
federation_inbound = Table(
    "federation_inbound",
    metadata,
    Column("message_id", String(32), primary_key=True),
    Column("from_relay", String(255), nullable=False),
    Column("envelope_hash", LargeBinary(32), nullable=False),
    Column("log_index", BigInteger, nullable=False),
    Column("ack", LargeBinary, nullable=False),
    Column("received_at", BigInteger, nullable=False),
)

# Reviews a peer forwarded here (revision 0009): one `peer_review` entry per review entry of
# the peer's log, so a forwarded review sent again is answered with the first one's index.
federation_reviews = Table(
    "federation_reviews",
    metadata,
    Column("from_relay", String(255), primary_key=True),
    Column("review_index", BigInteger, primary_key=True, autoincrement=False),
    Column("message_id", String(32), nullable=False),
    Column("log_index", BigInteger, nullable=False),
    Column("received_at", BigInteger, nullable=False),
)

# Reviews of cross-border messages still to forward to a peer (revision 0011, §16.6), one row
# per (peer, review entry index); kept after delivery (`finished_at`) as the record of it.
federation_review_outbox = Table(
    "federation_review_outbox",
    metadata,
    Column("peer", String(255), primary_key=True),
    Column("review_index", BigInteger, primary_key=True, autoincrement=False),
    Column("message_id", String(32), nullable=False),
    Column("enqueued_at", BigInteger, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
)
Index(
    "ix_federation_review_outbox_due",
    federation_review_outbox.c.finished_at,
    federation_review_outbox.c.next_attempt_at,
)

# Each agency's newest root-signed home statement naming this relay (revision 0009, §16.4),
# with the index of its `home` entry.
home_statements = Table(
    "home_statements",
    metadata,
    Column("agency", String(64), primary_key=True),
    Column("statement", LargeBinary, nullable=False),
    Column("issued_at", BigInteger, nullable=False),
    Column("log_index", BigInteger, nullable=False),
)

# Signed acknowledgements received from peers for envelopes forwarded from here (peer_ack
# entries): what the sender's officers see as delivery and acknowledgement across the border.
peer_acks = Table(
    "peer_acks",
    metadata,
    Column("message_id", String(32), primary_key=True),
    Column("event", String(16), primary_key=True),
    # The acknowledging device, or "" for `logged`.
    Column("device_id", String(200), primary_key=True),
    Column("from_relay", String(255), nullable=False),
    Column("ack", LargeBinary, nullable=False),
    Column("peer_index", BigInteger, nullable=False),
    Column("log_index", BigInteger, nullable=False),
    Column("received_at", BigInteger, nullable=False),
)

# (sender origin, nonce) of authenticated federation requests until `expires_at` (§16.3 step 7),
# shared by every relay process.
federation_nonces = Table(
    "federation_nonces",
    metadata,
    Column("sender", String(255), primary_key=True),
    Column("nonce", String(32), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
)
Index("ix_federation_nonces_expires", federation_nonces.c.expires_at)
