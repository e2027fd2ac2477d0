"""Opening goldenpath's store: the project's SQLite file, or PostgreSQL by URL.

The schema is brought to the latest Alembic revision on open (cheaply: the current revision is
read first, without a write lock, and the migrations run only when it is behind). Every database
error leaves as a :class:`~goldenpath.errors.StoreError`.

Two kinds of transaction:

* :meth:`Store.transaction` (writes): on SQLite it begins ``IMMEDIATE``, taking the file's write
  lock at once, so concurrent writers queue on it instead of failing half-way.
* :meth:`Store.reading` (reads): it cannot write. On SQLite a deferred ``BEGIN`` with
  ``PRAGMA query_only``: in the WAL journal mode set on every connection, a reader reads a
  snapshot and neither waits for nor blocks a writer. On PostgreSQL a ``READ ONLY`` transaction.
  A statement that would write fails (a :class:`~goldenpath.errors.StoreError`), so a read path
  is proven read-only by running at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from goldenpath.errors import DuplicateRecord, StoreError
from goldenpath.project import Project
from goldenpath.settings import store_uri_override

__all__ = ["Store", "open_store", "store_exists", "store_uri"]

_MIGRATIONS = Path(__file__).parent / "migrations"
_VERSION_TABLE = "gp_alembic_version"
_SQLITE_BUSY_MS = 30_000
_READ_ONLY = "goldenpath_read_only"  # execution option of a connection that only reads


def store_uri(project: Project) -> str:
    """``GOLDENPATH_STORE_URI`` when set, else ``sqlite:///<project>/.goldenpath/goldenpath.db``."""
    return store_uri_override() or f"sqlite:///{project.state_dir / 'goldenpath.db'}"


def store_exists(project: Project) -> bool:
    """Whether the project's store exists (a server database always counts as existing)."""
    return not _sqlite_file_missing(store_uri(project))


@dataclass(frozen=True)
class Store:
    """A migrated store. :meth:`transaction` is the only way to reach the database."""

    engine: Engine
    uri: str

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction: committed when the block ends, rolled back when it raises.
        Integrity errors propagate unchanged (callers turn them into domain errors: a
        concurrent promotion, a duplicate approval); other database errors become StoreError."""
        with self._translated(), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """One read-only transaction (see the module docstring): what read commands use, so
        they never take SQLite's write lock and cannot change anything; an attempt to write
        raises StoreError."""
        with (
            self._translated(reading=True),
            self.engine.connect().execution_options(**{_READ_ONLY: True}) as connection,
            connection.begin(),
        ):
            if self.dialect == "postgresql":
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield connection

    def _translated(self, *, reading: bool = False) -> AbstractContextManager[None]:
        return _translated_errors(self.uri, reading=reading)

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _translated_errors(uri: str, *, reading: bool) -> Iterator[None]:
    try:
        yield
    except IntegrityError as exc:
        table = _written_table(exc)
        if _duplicate_key(exc):
            raise DuplicateRecord(
                f"{table or 'a row'} already holds this key", table=table or "?"
            ) from None
        raise StoreError(
            f"the store at {_redacted(uri)} refused a write to {table or 'a table'}: "
            f"{str(exc.orig).splitlines()[0]}",
            hint="this is a bug in goldenpath if the store was not edited by hand",
        ) from None
    except SQLAlchemyError as exc:
        raise StoreError(
            f"the store at {_redacted(uri)} failed"
            + (" in a read-only transaction" if reading else "")
            + f": {exc.__class__.__name__}: {str(exc).splitlines()[0]}",
            hint="a read that tries to write is a bug in goldenpath"
            if reading and _write_refused(exc)
            else "check that the database is reachable and writable",
        ) from None


def _write_refused(error: SQLAlchemyError) -> bool:
    """A write refused by a read-only transaction: SQLSTATE 25006 on PostgreSQL,
    SQLITE_READONLY on SQLite (``PRAGMA query_only``)."""
    original = getattr(error, "orig", None)
    if getattr(original, "sqlstate", None) == "25006":
        return True
    return str(getattr(original, "sqlite_errorname", "")).startswith("SQLITE_READONLY")


_WRITE = re.compile(r"^\s*(?:INSERT\s+INTO|UPDATE)\s+\"?(\w+)", re.IGNORECASE)


def _written_table(error: IntegrityError) -> str | None:
    """The table the failed statement wrote to (from SQLAlchemy's statement, not the text of
    the database's message, which differs between SQLite and PostgreSQL)."""
    found = _WRITE.match(error.statement or "")
    return None if found is None else found.group(1)


def _duplicate_key(error: IntegrityError) -> bool:
    """A unique or primary key violation, told by the driver's error code: SQLSTATE 23505 on
    PostgreSQL, SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY on SQLite."""
    original = error.orig
    if getattr(original, "sqlstate", None) == "23505":
        return True
    name = getattr(original, "sqlite_errorname", "")
    return name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")


def _redacted(uri: str) -> str:
    try:
        return make_url(uri).render_as_string(hide_password=True)
    except ArgumentError:
        return uri


def _sqlite_engine(uri: str) -> Engine:
    path = make_url(uri).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(uri, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, explicitly
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # a reader begins deferred (a WAL snapshot, no write lock) and may not write; a writer
        # takes the write lock at once. query_only is per connection: set it either way.
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("PRAGMA query_only = ON")
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("PRAGMA query_only = OFF")
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _engine(uri: str) -> Engine:
    try:
        url = make_url(uri)
    except ArgumentError:
        raise StoreError(
            f"GOLDENPATH_STORE_URI is not a database URL: {uri!r}",
            hint="use postgresql+psycopg://user@host:5432/dbname or sqlite:///path/to/file.db",
        ) from None
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(uri)
    try:
        # no pool: a command opens a connection per transaction, and nothing idles open
        return create_engine(uri, poolclass=NullPool)
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"the driver for {url.drivername} is not installed ({exc.name})",
            hint="install PostgreSQL support with: pip install 'goldenpath[postgres]'",
        ) from None
    except (ArgumentError, SQLAlchemyError) as exc:
        raise StoreError(f"cannot use store {_redacted(uri)}: {exc}") from None


def _sqlite_file_missing(uri: str) -> bool:
    url = make_url(uri)
    return url.get_backend_name() == "sqlite" and not Path(url.database or "").exists()


def _migrate(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect().execution_options(**{_READ_ONLY: True}) as connection:
        context = MigrationContext.configure(connection, opts={"version_table": _VERSION_TABLE})
        if context.get_current_revision() == head:
            return
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError:
        # another process may have migrated at the same moment: fine if the store is at head now
        with engine.connect().execution_options(**{_READ_ONLY: True}) as connection:
            context = MigrationContext.configure(connection, opts={"version_table": _VERSION_TABLE})
            if context.get_current_revision() != head:
                raise


_MIGRATED: set[str] = set()  # URIs this process has brought to the latest revision


def open_store(project: Project | None = None, *, uri: str | None = None) -> Store:
    """The store of ``project`` (or at ``uri``), migrated to the latest schema."""
    if uri is None:
        if project is None:
            raise ValueError("open_store needs a project or a uri")
        uri = store_uri(project)
    engine = _engine(uri)
    if uri in _MIGRATED and not _sqlite_file_missing(uri):
        return Store(engine=engine, uri=uri)
    try:
        _migrate(engine)
        _MIGRATED.add(uri)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(
            f"cannot open the store at {_redacted(uri)}: {str(exc).splitlines()[0]}",
            hint="check that the database is running and that the URL's user may create tables",
        ) from None
    return Store(engine=engine, uri=uri)
