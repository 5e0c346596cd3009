"""The tables, as SQLAlchemy Core metadata (the migrations create them; a test
checks the two agree) and how a ``Ticket`` maps onto its row."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "SCHEMA_REVISION", "TICKET_COLUMNS", "metadata", "halls", "tickets", "numbering",
    "events_t", "counters_t", "replies", "bookings_t", "booking_slots_t", "followups_t",
    "hall_secrets_t", "login_failures_t", "ticket_phones_t", "console_sessions_t",
    "console_audit_t", "console_acks_t", "notify_outbox_t", "hall_configs_t",
    "counter_days_t", "resume_keys_t",
]

#: The newest migration in server/store/migrations/versions (checked by the tests):
#: a database already there skips loading Alembic at all.
SCHEMA_REVISION = "0014"

metadata = sa.MetaData()

halls = sa.Table(
    "halls",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
)

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("hall", sa.String(64), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("number", sa.String(16), nullable=False),
    sa.Column("seqno", sa.Integer, nullable=False),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("issued_at", sa.DateTime, nullable=False),
    sa.Column("counter", sa.Integer),
    sa.Column("target_counter", sa.Integer),
    sa.Column("rank_group", sa.Integer, nullable=False),
    sa.Column("rank_key", sa.Double, nullable=False),
    sa.Column("called_at", sa.DateTime),
    sa.Column("started_at", sa.DateTime),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("calls", sa.Integer, nullable=False),
    sa.Column("check_code", sa.String(32), nullable=False),
    sa.Column("slot_start", sa.DateTime),
    sa.Column("staff", sa.String(64)),
    sa.Column("rating", sa.Integer),
    sa.Column("version", sa.Integer, nullable=False),
    # Remote tickets (migration 0008): called only once present.
    sa.Column("remote", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("present", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("deferrals", sa.Integer, nullable=False, server_default="0"),
    # Joint-approval route (migration 0009): step service ids joined by ",", the
    # step, the route service (whose numbering the ticket's number is from).
    sa.Column("route", sa.String(400)),
    sa.Column("step", sa.Integer, nullable=False, server_default="0"),
    sa.Column("route_id", sa.String(64)),
    sa.UniqueConstraint("hall", "day", "number", name="uq_tickets_hall_day_number"),
)

numbering = sa.Table(
    "numbering",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("service", sa.String(64), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("last_number", sa.Integer, nullable=False),
)

events_t = sa.Table(
    "events",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("ticket", sa.String(64)),
    sa.Index("ix_events_hall_at", "hall", "at"),
)

counters_t = sa.Table(
    "counters",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("staff_id", sa.String(64)),
    sa.Column("staff_name", sa.String(64)),
    sa.Column("reason", sa.String(200)),
    sa.Column("since", sa.DateTime, nullable=False),
    sa.Column("streak", sa.Integer, nullable=False, server_default="0"),
)

replies = sa.Table(
    "replies",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("device", sa.String(128), primary_key=True),
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("reply", sa.Text, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Index("ix_replies_expires_at", "expires_at"),
)

# Appointments and follow-ups (migration 0002). The queries live with their
# owners in this package, server/store/bookings.py and followups.py, run in
# their own transactions or as ``commit(..., extra=...)`` writes.

bookings_t = sa.Table(
    "bookings",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("code", sa.String(16), primary_key=True),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("slot_start", sa.DateTime, nullable=False),
    sa.Column("person", sa.String(64), nullable=False),
    sa.Column("name_hash", sa.String(64), nullable=False),
    sa.Column("phone_hash", sa.String(64), nullable=False),
    sa.Column("name_mask", sa.String(64), nullable=False),
    sa.Column("phone_mask", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("person_day", sa.String(80)),
    sa.Column("ticket", sa.String(64)),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # "legacy": hashed with the salt in hall_secrets (before 0004); "pii":
    # with the key kept outside the database (server/pii.py).
    sa.Column("hash_scheme", sa.String(8), nullable=False, server_default="legacy"),
    # The number itself while the booking is open, for its ticket's webhooks (0010).
    sa.Column("phone", sa.String(32)),
    sa.UniqueConstraint("hall", "person_day", name="uq_bookings_hall_person_day"),
    sa.Index("ix_bookings_hall_person", "hall", "person"),
    sa.Index("ix_bookings_hall_day", "hall", "day"),
)

booking_slots_t = sa.Table(
    "booking_slots",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("service", sa.String(64), primary_key=True),
    sa.Column("slot_start", sa.DateTime, primary_key=True),
    sa.Column("booked", sa.Integer, nullable=False),
)

followups_t = sa.Table(
    "followups",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("ticket", sa.String(64), nullable=False),
    sa.Column("number", sa.String(16), nullable=False),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("counter", sa.Integer),
    sa.Column("staff_id", sa.String(64)),
    sa.Column("staff_name", sa.String(64)),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("served_at", sa.DateTime),
    sa.Column("opened_at", sa.DateTime, nullable=False),
    sa.Column("due", sa.Date, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("closed_at", sa.DateTime),
    sa.Column("closed_by", sa.String(128)),
    sa.Column("note", sa.Text),
    sa.Column("reason", sa.Text),
    sa.UniqueConstraint("hall", "ticket", name="uq_followups_hall_ticket"),
    sa.Index("ix_followups_hall_status", "hall", "status"),
)

hall_secrets_t = sa.Table(
    "hall_secrets",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
)

#: One row per wrong PIN and per key it counts against (migration 0004).
login_failures_t = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("hall", sa.String(64), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Index("ix_login_failures_hall_at", "hall", "at"),
)

#: Failover (migration 0006; the SQL that uses them is server/store/lease.py).
hall_leases_t = sa.Table(
    "hall_leases",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("epoch", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("owner", sa.String(128)),
    sa.Column("url", sa.Text),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("presence", sa.Integer),  # 0013: the owner's presence lock key
)
instances_t = sa.Table(
    "instances",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("url", sa.Text),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("presence", sa.Integer),  # 0014: the instance's presence lock key
)

#: The phone of a remote ticket (migration 0008; ``server/store/phones.py``):
#: its keyed hash for as long as the ticket row lives, the number itself only
#: while the ticket is active (notification delivery), then NULL.
ticket_phones_t = sa.Table(
    "ticket_phones",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("ticket", sa.String(64), primary_key=True),
    sa.Column("phone_hash", sa.String(64), nullable=False),
    sa.Column("phone", sa.String(32)),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    # ticket.soon is queued for it (told once, also across restarts; 0010).
    sa.Column("soon", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_ticket_phones_hall_hash", "hall", "phone_hash"),
)

# The supervisor console (migration 0007): its sessions (the cookie's digest,
# never the cookie), the audit log and the acknowledged alerts.
console_sessions_t = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("staff", sa.String(64), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("seen_at", sa.DateTime, nullable=False),
    sa.Column("ended_at", sa.DateTime),
)

console_audit_t = sa.Table(
    "console_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("hall", sa.String(64), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("staff", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_console_audit_hall_at", "hall", "at"),
)

console_acks_t = sa.Table(
    "console_acks",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("alert", sa.String(200), primary_key=True),
    sa.Column("staff", sa.String(64), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
)

#: The hall's configuration as versions of the whole TOML text (migration
#: 0011, ``server/store/configs.py``): the newest version is the configuration.
hall_configs_t = sa.Table(
    "hall_configs",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("staff", sa.String(64), nullable=False),
    sa.Column("note", sa.String(400), nullable=False),
)

#: Services assigned to a counter for one hall-local day (migration 0011):
#: an extra counter for a service today; the configuration is not changed.
counter_days_t = sa.Table(
    "counter_days",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("counter", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("services", sa.String(400), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("staff", sa.String(64), nullable=False),
)

#: Ticket dataclass field -> tickets column (``rank`` is two columns).
TICKET_COLUMNS = {
    "id": "id",
    "number": "number",
    "service": "service",
    "status": "status",
    "priority": "priority",
    "issued_at": "issued_at",
    "day": "day",
    "seqno": "seqno",
    "counter": "counter",
    "target_counter": "target_counter",
    "rank": ("rank_group", "rank_key"),
    "called_at": "called_at",
    "started_at": "started_at",
    "finished_at": "finished_at",
    "calls": "calls",
    "check": "check_code",
    "slot_start": "slot_start",
    "staff": "staff",
    "rating": "rating",
    "version": "version",
    "remote": "remote",
    "present": "present",
    "deferrals": "deferrals",
    "route": "route",
    "step": "step",
    "route_id": "route_id",
}

# Webhook deliveries still to make (0010): written with the events that call
# for them, deleted once the webhook accepts them or they are given up.
notify_outbox_t = sa.Table(
    "notify_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("hall", sa.String(64), nullable=False),
    sa.Column("sink", sa.String(64), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("delivery", sa.String(32), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("next_at", sa.DateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_notify_outbox_hall_next", "hall", "next_at"),
)

#: One HMAC key per hall for the resume tickets (0012, ``server/store/resumekeys.py``).
resume_keys_t = sa.Table(
    "resume_keys",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
