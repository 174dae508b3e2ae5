"""The audit log: one row per request, hash-chained, and the chain's head and anchor.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("api_key", sa.String(128)),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("requested_model", sa.String(256)),
        sa.Column("upstream_model", sa.String(256)),
        sa.Column("messages", sa.Text, nullable=False),
        sa.Column("input_rail", sa.Text),
        sa.Column("output_rail", sa.Text),
        sa.Column("upstream_response", sa.Text),
        sa.Column("final_response", sa.Text),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("category", sa.String(128)),
        sa.Column("flagged", sa.Boolean, nullable=False),
        sa.Column("bypassed", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("latency_ms", sa.Float),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_events_ts", "audit_events", ["ts"])
    op.create_index("ix_audit_events_outcome", "audit_events", ["outcome"])
    chain = op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("anchor", sa.String(64), nullable=False),
    )
    op.bulk_insert(chain, [{"id": 1, "head": GENESIS, "anchor": GENESIS}])


def downgrade() -> None:
    op.drop_table("audit_chain")
    op.drop_index("ix_audit_events_outcome", "audit_events")
    op.drop_index("ix_audit_events_ts", "audit_events")
    op.drop_table("audit_events")
