"""The cache epoch: a takedown survives a Redis outage (issue 13).

Revision ID: 0002_cache_epoch
Revises: 0001_initial
Create Date: 2026-11-30

One row holds the generation of the Redis link cache; see snip.cache.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_cache_epoch"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        "cache_epoch",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cache_epoch")),
    )
    op.bulk_insert(table, [{"id": 1, "epoch": 0}])


def downgrade():
    op.drop_table("cache_epoch")
