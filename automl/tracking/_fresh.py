"""A new SQLite tracking store starts as a copy of an empty MLflow database: MLflow builds a new
store's tables by running its schema migrations (about 1.2 s on 2 cores, at every new store), so they
are run once per MLflow version on this machine, into a template kept in automl's cache folder
(automl/cache.py), and each new store is a copy.

The template holds the tables and MLflow's schema version only: no experiment, so MLflow makes the
Default experiment (with this store's artifact root) when it first opens the copy, as it does for a
store it built itself. Where the cache cannot be written, MLflow builds the store as before.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from automl.cache import cache_dir
from automl.urls import sqlite_file


def seed_store(tracking_uri: str) -> bool:
    """Create the SQLite store `tracking_uri` names, if it does not exist, as a copy of the empty
    template (True); False for any other store, one that exists, or a cache that cannot be written or read.
    Call it under the store's lock (tracking.store_lock): two runs must not both copy."""
    path = sqlite_file(tracking_uri)
    if path is None or path.exists():
        return False
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")  # (renamed when whole)
    try:
        template = _template()
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, partial)
        os.replace(partial, path)
    except OSError:  # (MLflow builds the store itself, as without a cache)
        partial.unlink(missing_ok=True)
        return False
    return True


def _template() -> Path:
    """The empty database of this MLflow version, built the first time it is asked for."""
    import mlflow
    from filelock import FileLock

    folder = cache_dir()
    template = folder / f"mlflow-{mlflow.__version__}-empty.db"
    if template.exists():
        return template
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{template}.lock"):
        if not template.exists():
            _build(template)
    return template


def _build(template: Path) -> None:
    """MLflow's own table creation and migrations (mlflow.store.db.utils._initialize_tables: MLflow
    has no public call that builds tables without also making the Default experiment) into a
    temporary file, renamed to `template` once whole."""
    from mlflow.store.db.utils import _initialize_tables
    from sqlalchemy import create_engine

    handle, partial = tempfile.mkstemp(dir=template.parent, suffix=".partial")
    os.close(handle)
    os.unlink(partial)  # (SQLite makes the file itself)
    engine = create_engine(f"sqlite:///{partial}")
    try:
        _initialize_tables(engine)
    except Exception as error:  # (MLflow builds each store itself then, as without a cache)
        Path(partial).unlink(missing_ok=True)
        raise OSError(f"could not build MLflow's empty store in {template.parent}: {error}") from error
    finally:
        engine.dispose()
    os.replace(partial, template)
