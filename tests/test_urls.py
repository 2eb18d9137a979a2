"""Which file an SQLite URL names, read the way SQLAlchemy reads it."""

from pathlib import Path

import pytest

from automl.urls import sqlite_file, with_sqlite_file


@pytest.mark.parametrize("url, expected", [
    ("sqlite:///mlruns/mlflow.db", Path("mlruns/mlflow.db")),
    ("sqlite:////abs/store/mlflow.db", Path("/abs/store/mlflow.db")),
    ("sqlite+pysqlite:///x.db?timeout=5", Path("x.db")),  # a driver and a query: still the file
    ("sqlite://", None),
    ("sqlite:///:memory:", None),
    ("postgresql://me:pw@db:5432/optuna", None),
    ("mlruns/optuna.journal", None),  # a path, not a URL
    ("sqlite_runs/optuna.journal", None),
    (None, None),
])
def test_sqlite_file(url, expected):
    assert sqlite_file(url) == expected


def test_with_sqlite_file_keeps_the_driver_and_the_query():
    assert with_sqlite_file("sqlite:///mlflow.db", Path("/abs/mlflow.db")) == "sqlite:////abs/mlflow.db"
    assert (with_sqlite_file("sqlite+pysqlite:///x.db?timeout=5", Path("/abs/x.db"))
            == "sqlite+pysqlite:////abs/x.db?timeout=5")
