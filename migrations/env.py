"""Alembic environment: runs against the engine digest hands it (see digest.db)."""

from alembic import context
from sqlalchemy import create_engine

from digest.models import Base

config = context.config
# APScheduler owns and creates its job table itself; leave it out of our schema.
IGNORED_TABLES = {"apscheduler_jobs"}


def include_object(obj, name, type_, reflected, compare_to):
    return not (type_ == "table" and name in IGNORED_TABLES)


def run_migrations() -> None:
    engine = config.attributes.get("engine") or create_engine(
        config.get_main_option("sqlalchemy.url")
    )
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            include_object=include_object,
            compare_type=True,
        )
        context.run_migrations()


run_migrations()
