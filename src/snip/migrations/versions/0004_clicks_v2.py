"""Click pipeline v2: hourly and daily counts per dimension, the click-log ledger.

click_stats (per day, bot flag and referrer host) becomes click_daily rows: the
"all" and "referrer" dimensions keep what it knew; country, browser, os and device
were never recorded before, so those clicks count under "" (unknown).

Revision ID: 0004_clicks_v2
Revises: 0003_users_owners
Create Date: 2026-11-30

Runs on PostgreSQL and SQLite (tests/app/test_migrations.py runs it up and down on both).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_clicks_v2"
down_revision = "0003_users_owners"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _counts_table(name: str, period: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("link_id", BigId, nullable=False),
        period,
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f(f"fk_{name}_link_id_links"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "link_id", period.name, "dimension", "value", "is_bot", name=op.f(f"pk_{name}")
        ),
    )


def upgrade():
    _counts_table("click_hourly", sa.Column("hour", sa.DateTime(timezone=True), nullable=False))
    _counts_table("click_daily", sa.Column("day", sa.Date(), nullable=False))
    op.create_table(
        "click_segments",
        sa.Column("segment", sa.String(length=80), nullable=False),
        sa.Column("shipped_bytes", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("last_batch_clicks", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("segment", name=op.f("pk_click_segments")),
    )
    with op.batch_alter_table("click_segments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_click_segments_updated_at"), ["updated_at"], unique=False
        )

    op.execute(
        "INSERT INTO click_daily (link_id, day, dimension, value, is_bot, clicks) "
        "SELECT link_id, day, 'all', '', is_bot, SUM(clicks) FROM click_stats "
        "GROUP BY link_id, day, is_bot"
    )
    op.execute(
        "INSERT INTO click_daily (link_id, day, dimension, value, is_bot, clicks) "
        "SELECT link_id, day, 'referrer', referrer_host, is_bot, clicks FROM click_stats"
    )
    for dimension in ("country", "browser", "os", "device"):
        op.execute(
            "INSERT INTO click_daily (link_id, day, dimension, value, is_bot, clicks) "
            f"SELECT link_id, day, '{dimension}', '', is_bot, SUM(clicks) FROM click_stats "
            "GROUP BY link_id, day, is_bot"
        )
    op.drop_table("click_stats")


def downgrade():
    op.create_table(
        "click_stats",
        sa.Column("link_id", BigId, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("referrer_host", sa.String(length=255), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["links.id"],
            name=op.f("fk_click_stats_link_id_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "link_id", "day", "is_bot", "referrer_host", name=op.f("pk_click_stats")
        ),
    )
    # The referrer breakdown holds every click once: it is what click_stats was.
    day_of_hour = (
        "date(hour)"
        if op.get_bind().dialect.name == "sqlite"
        else "CAST(hour AT TIME ZONE 'UTC' AS date)"
    )
    op.execute(
        "INSERT INTO click_stats (link_id, day, is_bot, referrer_host, clicks) "
        "SELECT link_id, day, is_bot, value, SUM(clicks) FROM ("
        "  SELECT link_id, day, is_bot, value, clicks FROM click_daily"
        "  WHERE dimension = 'referrer'"
        "  UNION ALL"
        f"  SELECT link_id, {day_of_hour} AS day, is_bot, value, clicks FROM click_hourly"
        "  WHERE dimension = 'referrer'"
        ") AS merged GROUP BY link_id, day, is_bot, value"
    )
    with op.batch_alter_table("click_segments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_click_segments_updated_at"))
    op.drop_table("click_segments")
    op.drop_table("click_daily")
    op.drop_table("click_hourly")
