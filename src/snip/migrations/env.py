"""Alembic environment for snip, run by Flask-Migrate (`snip db upgrade`, `snip migrate`).

The engine and metadata are the application's own (snip.extensions.db); Flask-Migrate
adds its options (render_as_batch, so SQLite can alter tables). Autogenerate writes no
file when the models and the database already agree.
"""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

from snip.extensions import db

config = context.config
fileConfig(config.config_file_name)
logger = logging.getLogger("alembic.env")


def run_migrations_offline():
    """Print the SQL (`snip db upgrade --sql`) instead of running it."""
    url = db.engine.url.render_as_string(hide_password=False)
    context.configure(url=url, target_metadata=db.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def skip_empty_autogenerate(context, revision, directives):
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


def run_migrations_online():
    options = dict(current_app.extensions["migrate"].configure_args)  # Flask-Migrate's own
    options.setdefault("process_revision_directives", skip_empty_autogenerate)
    with db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=db.metadata, **options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
