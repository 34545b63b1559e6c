"""Users, and an owner for every link and API key.

Revision ID: 0003_users_owners
Revises: 0002_cache_epoch
Create Date: 2026-11-30

Links and keys made before accounts existed need an owner. When there are any,
this migration creates one admin, ``legacy-owner@snip.invalid``, without a
password (nobody can sign in as it), and gives it those links and keys. An admin
can later hand out a reset link for it (Users page) or simply keep it as the
holder of the old links; admins see and manage every link anyway.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003_users_owners"
down_revision = "0002_cache_epoch"
branch_labels = None
depends_on = None

LEGACY_OWNER = "legacy-owner@snip.invalid"
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "users",
        sa.Column("id", BigId, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("session_version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_users_token_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", BigId, nullable=True))
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("updated_by_id", BigId, nullable=True))

    bind = op.get_bind()
    has_rows = bind.execute(
        sa.text("SELECT EXISTS (SELECT 1 FROM api_keys) OR EXISTS (SELECT 1 FROM links)")
    ).scalar()
    if has_rows:
        bind.execute(
            sa.text(
                "INSERT INTO users (email, role, session_version, created_at)"
                " VALUES (:email, 'admin', 1, :now)"
            ),
            {"email": LEGACY_OWNER, "now": datetime.now(UTC)},
        )
        owner = bind.execute(
            sa.text("SELECT id FROM users WHERE email = :email"), {"email": LEGACY_OWNER}
        ).scalar_one()
        bind.execute(sa.text("UPDATE api_keys SET user_id = :id"), {"id": owner})
        bind.execute(sa.text("UPDATE links SET owner_id = :id"), {"id": owner})

    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=BigId, nullable=False)
        batch_op.create_index(batch_op.f("ix_api_keys_user_id"), ["user_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_api_keys_user_id_users"),
            "users",
            ["user_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_links_owner_id"), ["owner_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_links_owner_id_users"), "users", ["owner_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_links_updated_by_id_users"),
            "users",
            ["updated_by_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade():
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_links_updated_by_id_users"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_links_owner_id_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_links_owner_id"))
        batch_op.drop_column("updated_by_id")
        batch_op.drop_column("owner_id")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_keys_user_id_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_api_keys_user_id"))
        batch_op.drop_column("user_id")
    op.drop_table("users")
