"""Schema migrations: from empty to head (SQLite, and PostgreSQL under make test-pg), and the revision
the fast start-up check expects."""
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from bot.db import SCHEMA_REVISION, Database, alembic_config
from bot.models import Base


def test_schema_revision_constant_is_alembic_head():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_current_head() == SCHEMA_REVISION


def test_upgrade_from_empty_creates_every_model_table(empty_db_url):
    db = Database(empty_db_url)
    assert db.revision() is None
    db.ensure_schema()
    assert db.revision() == SCHEMA_REVISION
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    db.ensure_schema()  # already at head: nothing to do, no error
    db.dispose()


def test_migrated_schema_matches_the_models(empty_db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db = Database(empty_db_url)
    db.upgrade()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    db.dispose()
