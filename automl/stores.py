"""Can the run's stores be reached and written? Checked before anything is written.

The MLflow tracking URI must answer within seconds (a server nobody listens on would otherwise
cost minutes of MLflow's retries), folders for the SQLite file, the artifacts and the Optuna
journal must be writable, and a database URL needs its driver installed. Each failure is a
ConfigError naming the key, the value (password masked) and the fix.
"""

from __future__ import annotations

import base64
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from automl.config import ConfigError, Stores
from automl.secrets import redact
from automl.urls import sqlite_file

ANSWER_WITHIN_S = 5.0
RDB_SCHEMES = ("postgresql", "mysql", "mssql", "oracle", "sqlite")
# the pip line for a database driver SQLAlchemy could not import, by the driver's module name
DRIVER_PACKAGES = {"psycopg2": "'automl[postgres]' (psycopg2-binary)",
                   "psycopg": "'psycopg[binary]'", "pg8000": "pg8000",
                   "asyncpg": "asyncpg", "pymysql": "PyMySQL", "MySQLdb": "mysqlclient",
                   "mysql": "mysql-connector-python", "pyodbc": "pyodbc", "oracledb": "oracledb"}


def check_stores(stores: Stores) -> None:
    """Raise ConfigError when a store cannot be reached or written; writes nothing that stays."""
    _check_tracking_uri(stores.tracking_uri)
    if "://" not in stores.artifact_location or stores.artifact_location.startswith("file:"):
        _check_writable_file(stores.artifact_location.removeprefix("file://").removeprefix("file:"),
                             "tracking.artifact_location", folder=True)
    _check_optuna_storage(stores.optuna_storage)


def _check_tracking_uri(uri: str) -> None:
    key, shown = "tracking.tracking_uri", redact(uri)
    scheme = uri.split("://", 1)[0].split("+", 1)[0] if "://" in uri else ""
    if scheme in ("http", "https"):
        _check_answers(uri, key)
    elif scheme == "sqlite":
        _check_sqlite(uri, key)
    elif scheme in RDB_SCHEMES:
        _check_database(uri, key)
    elif scheme not in ("databricks", "uc"):
        raise ConfigError(f"{key} '{shown}' is not a store this MLflow writes to (its file store is retired); "
                          "use sqlite:///mlruns/mlflow.db, a database URL or an http(s):// MLflow server")


def _check_optuna_storage(storage: str) -> None:
    key = "tracking.optuna_storage"
    if "://" not in storage:
        _check_writable_file(storage, key, folder=False)
    elif storage.startswith("sqlite"):
        _check_sqlite(storage, key)
    else:
        _check_database(storage, key)


def _check_answers(uri: str, key: str) -> None:
    """Any HTTP answer will do (MLflow's /health, or an error page): something listens."""
    parts = urllib.parse.urlsplit(uri)
    request = urllib.request.Request(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]).geturl().rstrip("/")
                                     + "/health")
    if parts.username is not None:  # credentials in the URL: basic auth, as MLflow's client sends them
        token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        urllib.request.urlopen(request, timeout=ANSWER_WITHIN_S).close()
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise ConfigError(f"{key} '{redact(uri)}' does not answer within {ANSWER_WITHIN_S:.0f} s ({reason}); "
                          "start the MLflow server (mlflow server --host 127.0.0.1 --port 5000) or use "
                          "the embedded store sqlite:///mlruns/mlflow.db") from None


def _check_sqlite(uri: str, key: str) -> None:
    path = sqlite_file(uri)
    if path is None:
        raise ConfigError(f"{key} '{uri}' names no file; use e.g. sqlite:///mlruns/mlflow.db")
    _check_writable_file(str(path), key, folder=False)


def _check_writable_file(path: str, key: str, folder: bool) -> None:
    """`path` (a file, or a folder) can be made: its nearest existing ancestor is a writable folder."""
    target = Path(path).expanduser()
    if target.exists() and target.is_dir() != folder:
        wanted, found = ("a folder", "a file") if folder else ("a file", "a folder")
        raise ConfigError(f"{key} '{path}' is {found}; it must name {wanted}")
    ancestor = target.absolute() if folder else target.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{key} '{path}' lies under '{ancestor}', which is a file, not a folder; "
                          "choose a path in a folder you can write")
    try:
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as error:
        raise ConfigError(f"{key} '{path}': cannot write in '{ancestor}' ({error.strerror or error}); "
                          "choose a path in a folder you can write") from None


def _check_database(url: str, key: str) -> None:
    """The URL parses, its driver is installed, and the server accepts a connection within seconds."""
    import sqlalchemy
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    shown = redact(url)
    try:
        parsed = sqlalchemy.engine.make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as error:
        raise ConfigError(f"{key} '{shown}' is not a database URL SQLAlchemy knows ({error}); "
                          "write it like postgresql://user:password@host:5432/db") from None
    try:
        dialect.import_dbapi()
    except ImportError as error:
        module = (getattr(error, "name", None) or str(error).split("'")[1 if "'" in str(error) else 0]).split(".")[0]
        package = DRIVER_PACKAGES.get(module, module)
        raise ConfigError(f"{key} '{shown}' needs the database driver '{module}', which is not installed; "
                          f"run: pip install {package}") from None
    timeout = {"connect_timeout": int(ANSWER_WITHIN_S)} if parsed.get_backend_name() in ("postgresql", "mysql") else {}
    engine = sqlalchemy.create_engine(parsed, connect_args=timeout)
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as error:
        reason = redact(str(getattr(error, "orig", error))).strip().splitlines()[0]
        raise ConfigError(f"{key} '{shown}' does not accept a connection ({reason}); start the database, "
                          "or check the host, port, user and password") from None
    finally:
        engine.dispose()
