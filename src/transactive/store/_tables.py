"""The SQL schema (SQLAlchemy Core). Version :data:`SCHEMA_VERSION`; see :func:`migrate`."""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 11  # 2: the negawatt_* tables; 3: addresses, bilateral contracts, listings, multi-settlements;
# 4: chain_accounts, ledger_meta, ledger_slots; 5: member_profiles; 6: dead_letters, delivery_attempts,
# meter_reading_reporters (each version only adds tables, created on an older database by create_all);
# 7: chain_accounts.private_key TEXT holding the sealed key (PostgreSQL: altered; plaintext keys sealed at open),
# meter_keys, meter_reading_signatures, reading_disputes; 8: community_settings; 9: tx_intents;
# 10: meter_reading_slots; 11: the index ix_meter_readings_slot (a slot's readings read by community and slot
# start; created on an older database by sql.SqlStore._migrate)

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.String(40), nullable=False),
)

communities = sa.Table(
    "communities", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("mechanism", sa.String(64), nullable=False),
    sa.Column("params", sa.Text, nullable=False),  # JSON object
    sa.Column("slot_minutes", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

members = sa.Table(
    "members", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("community", sa.String(64), sa.ForeignKey("communities.name"), nullable=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("api_key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("bus", sa.String(64), nullable=True),
)

member_profiles = sa.Table(  # a member's own settings, e.g. its order defaults (market/order_form.py)
    "member_profiles", metadata,
    sa.Column("member", sa.String(64), sa.ForeignKey("members.id"), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),  # JSON object
    sa.Column("updated_at", sa.String(40), nullable=False),
)

community_settings = sa.Table(  # a community's settings that are not its mechanism's, e.g. its time zone
    "community_settings", metadata,
    sa.Column("community", sa.String(64), sa.ForeignKey("communities.name"), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),  # JSON object
    sa.Column("updated_at", sa.String(40), nullable=False),
)

slots = sa.Table(
    "slots", metadata,
    sa.Column("community", sa.String(64), sa.ForeignKey("communities.name"), primary_key=True),
    sa.Column("start", sa.String(40), primary_key=True),
    sa.Column("duration_minutes", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
)

orders = sa.Table(
    "orders", metadata,
    sa.Column("seq", sa.Integer, sa.Identity(), primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("community", sa.String(64), nullable=False),
    sa.Column("slot_start", sa.String(40), nullable=False),
    sa.Column("member", sa.String(64), sa.ForeignKey("members.id"), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("entry", sa.Text, nullable=False),  # JSON object: blocks and mechanism-specific fields
    sa.Column("idempotency_key", sa.String(128), nullable=False),
    sa.Column("received_at", sa.String(40), nullable=False),
    sa.ForeignKeyConstraint(["community", "slot_start"], ["slots.community", "slots.start"]),
    sa.UniqueConstraint("member", "idempotency_key", name="uq_orders_member_key"),
    sa.UniqueConstraint("community", "slot_start", "member", name="uq_orders_one_per_slot"),
    sa.Index("ix_orders_idempotency_key", "idempotency_key"),
)

results = sa.Table(
    "results", metadata,
    sa.Column("community", sa.String(64), primary_key=True),
    sa.Column("slot_start", sa.String(40), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),  # transactive.result/1, deterministic JSON text
    sa.Column("computed_at", sa.String(40), nullable=False),
    sa.ForeignKeyConstraint(["community", "slot_start"], ["slots.community", "slots.start"]),
)

meter_readings = sa.Table(
    "meter_readings", metadata,
    sa.Column("community", sa.String(64), sa.ForeignKey("communities.name"), nullable=False),
    sa.Column("member", sa.String(64), sa.ForeignKey("members.id"), primary_key=True),
    sa.Column("slot_start", sa.String(40), primary_key=True),
    sa.Column("energy_kwh", sa.Float, nullable=False),
    sa.Column("received_at", sa.String(40), nullable=False),
)
# version 11: a slot's readings read (the settlement's read, the check of the awaited ones) by this index, not by
# a scan of every slot's readings (the primary key leads with the member)
ix_meter_readings_slot = sa.Index("ix_meter_readings_slot", meter_readings.c.community, meter_readings.c.slot_start)

# ---------------------------------------------------------------------------------------- negawatt (version 2)
negawatt_events = sa.Table(
    "negawatt_events", metadata,
    sa.Column("community", sa.String(64), sa.ForeignKey("communities.name"), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("aggregator", sa.String(64), sa.ForeignKey("members.id"), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("document", sa.Text, nullable=False),  # the event (spec, history, clearing, settlement), JSON
    sa.Column("updated_at", sa.String(40), nullable=False),
)

negawatt_offers = sa.Table(
    "negawatt_offers", metadata,
    sa.Column("seq", sa.Integer, sa.Identity(), primary_key=True, autoincrement=True),
    sa.Column("community", sa.String(64), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("member", sa.String(64), sa.ForeignKey("members.id"), nullable=False),
    sa.Column("entry", sa.Text, nullable=False),  # JSON: side, energy_kwh, price_per_kwh
    sa.Column("received_at", sa.String(40), nullable=False),
    sa.ForeignKeyConstraint(["community", "event_id"], ["negawatt_events.community", "negawatt_events.id"]),
    sa.UniqueConstraint("community", "event_id", "member", name="uq_negawatt_offers_one_per_member"),
)

negawatt_deliveries = sa.Table(
    "negawatt_deliveries", metadata,
    sa.Column("community", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("member", sa.String(64), sa.ForeignKey("members.id"), primary_key=True),
    sa.Column("delivered_kwh", sa.Float, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),  # JSON: the baseline that verified it
    sa.Column("received_at", sa.String(40), nullable=False),
    sa.ForeignKeyConstraint(["community", "event_id"], ["negawatt_events.community", "negawatt_events.id"]),
)

# ---------------------------------------------------------------------------------------- multi-settlement (version 3)
member_addresses = sa.Table(
    "member_addresses", metadata,
    sa.Column("member", sa.String(64), sa.ForeignKey("members.id"), primary_key=True),
    sa.Column("community", sa.String(64), sa.ForeignKey("communities.name"), nullable=False),
    sa.Column("address", sa.String(42), nullable=False, unique=True),  # EIP-55 checksummed
    sa.Column("registered_at", sa.String(40), nullable=False),
)

bilateral_contracts = sa.Table(
    "bilateral_contracts", metadata,
    sa.Column("community", sa.String(64), sa.ForeignKey("communities.name"), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("seller", sa.String(64), sa.ForeignKey("members.id"), nullable=False),
    sa.Column("buyer", sa.String(64), sa.ForeignKey("members.id"), nullable=False),
    sa.Column("proposer", sa.String(64), sa.ForeignKey("members.id"), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # proposed | signed
    sa.Column("first_slot", sa.String(40), nullable=False),
    sa.Column("last_slot", sa.String(40), nullable=False),
    sa.Column("document", sa.Text, nullable=False),  # JSON: the signed terms (slots, Wh, price, nonce, addresses)
    sa.Column("seller_signature", sa.String(132), nullable=True),  # 0x + 65 bytes hex
    sa.Column("buyer_signature", sa.String(132), nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Index("ix_bilateral_contracts_window", "community", "state", "first_slot", "last_slot"),
)

listings = sa.Table(
    "listings", metadata,
    sa.Column("community", sa.String(64), sa.ForeignKey("communities.name"), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("seller", sa.String(64), sa.ForeignKey("members.id"), nullable=False),
    sa.Column("slot_start", sa.String(40), nullable=False),
    sa.Column("energy_wh", sa.Integer, nullable=False),
    sa.Column("price_per_kwh", sa.Float, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # FOR_SALE | RESERVE_NOT_MET | CLOSE (seed 003)
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Index("ix_listings_slot", "community", "slot_start"),
)

listing_orders = sa.Table(
    "listing_orders", metadata,
    sa.Column("seq", sa.Integer, sa.Identity(), primary_key=True, autoincrement=True),
    sa.Column("community", sa.String(64), nullable=False),
    sa.Column("id", sa.String(64), nullable=False),
    sa.Column("listing_id", sa.String(64), nullable=False),
    sa.Column("buyer", sa.String(64), sa.ForeignKey("members.id"), nullable=False),
    sa.Column("energy_wh", sa.Integer, nullable=False),
    sa.Column("decision", sa.String(16), nullable=True),  # NULL pending | accepted | rejected
    sa.Column("reason", sa.Text, nullable=False),  # JSON list of strings
    sa.Column("decided_by", sa.String(64), nullable=True),
    sa.Column("decided_at", sa.String(40), nullable=True),
    sa.Column("received_at", sa.String(40), nullable=False),
    sa.ForeignKeyConstraint(["community", "listing_id"], ["listings.community", "listings.id"]),
    sa.UniqueConstraint("community", "id", name="uq_listing_orders_id"),
    sa.Index("ix_listing_orders_listing", "community", "listing_id"),
)

multi_settlements = sa.Table(
    "multi_settlements", metadata,
    sa.Column("community", sa.String(64), sa.ForeignKey("communities.name"), primary_key=True),
    sa.Column("slot_start", sa.String(40), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),  # JSON: statements, accounts, listing and grid trades
    sa.Column("computed_at", sa.String(40), nullable=False),
)


# ---------------------------------------------------------------------------------------- ledger (version 4)
chain_accounts = sa.Table(
    "chain_accounts", metadata,
    sa.Column("member", sa.String(64), sa.ForeignKey("members.id"), primary_key=True),
    sa.Column("address", sa.String(42), nullable=False, unique=True),  # EIP-55
    sa.Column("private_key", sa.Text, nullable=True),  # sealed (aes256gcm:...); custodial keys only (pilot choice)
    sa.Column("enrolled", sa.Boolean, nullable=False, default=False),  # registered, funded, approved on chain
)

ledger_meta = sa.Table(
    "ledger_meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),  # JSON
)

ledger_slots = sa.Table(
    "ledger_slots", metadata,
    sa.Column("community", sa.String(64), sa.ForeignKey("communities.name"), primary_key=True),
    sa.Column("slot_start", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # "clearing" or "settlement"
    sa.Column("chain_slot", sa.String(80), nullable=False),  # uint256 as a decimal string
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("document", sa.Text, nullable=False),  # JSON: batch, roots, tx hashes, statements
    sa.Column("updated_at", sa.String(40), nullable=False),
)

# version 6: messages that could not be processed (recorded, acknowledged, never redelivered again), and how
# often a message redelivered by the broker was attempted (so that one that kills the process is given up)
dead_letters = sa.Table(
    "dead_letters", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(16), nullable=False),  # "mqtt"
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # the first DEAD_LETTER_PAYLOAD_CHARS, invalid UTF-8 replaced
    sa.Column("payload_bytes", sa.Integer, nullable=False),
    sa.Column("received_at", sa.String(40), nullable=False),
)

# who reported a reading that is not the member's own (the DSO's or an admin's): the member's own reading
# replaces it (docs/api.md, meter readings)
meter_reading_reporters = sa.Table(
    "meter_reading_reporters", metadata,
    sa.Column("member", sa.String(64), primary_key=True),
    sa.Column("slot_start", sa.String(40), primary_key=True),
    sa.Column("reporter", sa.String(64), nullable=False),
)

delivery_attempts = sa.Table(
    "delivery_attempts", metadata,
    sa.Column("digest", sa.String(64), primary_key=True),  # SHA-256 of topic NUL payload
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

# ---------------------------------------------------------------------------------------- meters (version 7)
# the address of each member's meter key (docs/service.md, meter readings)
meter_keys = sa.Table(
    "meter_keys", metadata,
    sa.Column("member", sa.String(64), sa.ForeignKey("members.id"), primary_key=True),
    sa.Column("community", sa.String(64), sa.ForeignKey("communities.name"), nullable=False),
    sa.Column("address", sa.String(42), nullable=False),  # EIP-55
    sa.Column("set_by", sa.String(64), nullable=False),
    sa.Column("set_at", sa.String(40), nullable=False),
)

# the meter's signature of a stored reading (its value in Wh is the reading's energy_kwh)
meter_reading_signatures = sa.Table(
    "meter_reading_signatures", metadata,
    sa.Column("member", sa.String(64), primary_key=True),
    sa.Column("slot_start", sa.String(40), primary_key=True),
    sa.Column("meter", sa.String(42), nullable=False),
    sa.Column("signature", sa.String(132), nullable=False),  # 0x + 65 bytes hex
)

# corrections of readings: never an overwrite, a dispute with its recorded resolution
reading_disputes = sa.Table(
    "reading_disputes", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("community", sa.String(64), sa.ForeignKey("communities.name"), nullable=False),
    sa.Column("member", sa.String(64), sa.ForeignKey("members.id"), nullable=False),
    sa.Column("slot_start", sa.String(40), nullable=False),
    sa.Column("metered_kwh", sa.Float, nullable=False),
    sa.Column("proposed_kwh", sa.Float, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("opened_by", sa.String(64), nullable=False),
    sa.Column("opened_at", sa.String(40), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # open, resolved, rejected
    sa.Column("approvals", sa.Text, nullable=False),  # JSON object: role -> member id
    sa.Column("signatures", sa.Text, nullable=False),  # JSON object: role -> {"address", "signature"}
    sa.Column("resolution", sa.Text, nullable=False),
    sa.Column("resolved_at", sa.String(40), nullable=True),
    sa.Index("ix_reading_disputes_slot", "community", "slot_start"),
)

# version 10: a slot's readings ``open`` (taking readings) or ``closed`` (settlement read them: final); the row
# every write of readings locks, so a reading is stored before the settlement's read or refused after it
meter_reading_slots = sa.Table(
    "meter_reading_slots", metadata,
    sa.Column("community", sa.String(64), sa.ForeignKey("communities.name"), primary_key=True),
    sa.Column("slot_start", sa.String(40), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # open, closed
)

# ---------------------------------------------------------------------------------------- chain (version 9)
# write-ahead: each signed transaction recorded before it is sent, closed with its outcome
# (transactive.ledger.chain.intents); the same hash again (a refused one signed anew) is a new row
tx_intents = sa.Table(
    "tx_intents", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("chain_id", sa.BigInteger, nullable=False),
    sa.Column("tx_hash", sa.String(66), nullable=False),  # 0x + 32 bytes hex
    sa.Column("sender", sa.String(42), nullable=False),  # EIP-55
    sa.Column("nonce", sa.BigInteger, nullable=False),
    sa.Column("raw_tx", sa.Text, nullable=False),  # 0x + the signed transaction, hex
    sa.Column("step", sa.String(80), nullable=False),  # the contract function, deploy:<Contract>, send_value
    sa.Column("slot", sa.String(80), nullable=True),  # the on-chain slot (uint256 as a decimal string)
    sa.Column("state", sa.String(16), nullable=False),  # open, mined, reverted, refused, dropped
    sa.Column("block_number", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Index("ix_tx_intents_hash", "tx_hash"),
    sa.Index("ix_tx_intents_state", "state", "chain_id"),
    sa.Index("ix_tx_intents_slot", "slot"),
)
