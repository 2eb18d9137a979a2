"""A new SQLite tracking store is a copy of an empty MLflow database built once per MLflow version
(automl/tracking/_fresh.py): the same schema as a store MLflow builds itself, its own Default
experiment, and MLflow's own building where the cache cannot be written."""

from __future__ import annotations

import sqlite3

import mlflow
from mlflow import MlflowClient

from automl.cache import cache_dir
from automl.tracking import start_run
from automl.tracking._fresh import seed_store


def schema(db) -> list[tuple]:
    """Tables, indexes and MLflow's schema version; a table's clauses in sorted order (the order of
    its CHECK constraints differs between two builds by MLflow itself: a set's order)."""
    with sqlite3.connect(db) as connection:
        tables = connection.execute("select type, name, sql from sqlite_master order by type, name").fetchall()
        version = connection.execute("select version_num from alembic_version").fetchall()
    return [(kind, name, sorted((sql or "").split(", \n"))) for kind, name, sql in tables] + version


def test_a_new_store_is_a_copy_with_mlflows_own_schema(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOML_CACHE_DIR", str(tmp_path / "cache"))
    built = tmp_path / "built" / "mlflow.db"
    MlflowClient(f"sqlite:///{built}").search_experiments()  # MLflow's migrations, as without automl
    copied = tmp_path / "copied" / "mlflow.db"
    assert seed_store(f"sqlite:///{copied}")
    assert [p.name for p in cache_dir().glob("*.db")] == [f"mlflow-{mlflow.__version__}-empty.db"]
    assert schema(copied) == schema(built)
    client = MlflowClient(f"sqlite:///{copied}")
    [default] = client.search_experiments()  # made on the first open, where MLflow puts it, not in the cache
    assert default.experiment_id == "0" and str(tmp_path / "cache") not in default.artifact_location
    assert not seed_store(f"sqlite:///{copied}")  # it exists: left as it is
    assert [e.name for e in client.search_experiments()] == ["Default"]
    assert not list(copied.parent.glob(".*partial"))  # the copy was renamed whole


def test_other_stores_and_an_unwritable_cache_are_left_to_mlflow(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOML_CACHE_DIR", str(tmp_path / "cache"))
    assert not seed_store("http://127.0.0.1:5000") and not seed_store("sqlite://")  # a server; in memory
    assert not (tmp_path / "cache").exists()
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("AUTOML_CACHE_DIR", str(blocked / "cache"))
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    assert not seed_store(uri) and not (tmp_path / "store").exists()
    run = start_run(uri, "plain", str(tmp_path / "artifacts"), "first", {})  # MLflow builds the store itself
    assert MlflowClient(uri).get_run(run.run_id).info.status == "RUNNING"


def test_a_run_on_a_new_store_starts_from_the_template(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOML_CACHE_DIR", str(tmp_path / "cache"))
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    first = start_run(uri, "seeded", str(tmp_path / "artifacts"), "first", {"k": "v"})
    assert len(list((tmp_path / "cache").glob("*.db"))) == 1
    second = start_run(uri, "seeded", str(tmp_path / "artifacts"), "second", {})  # the same store, reopened
    client = MlflowClient(uri)
    assert client.get_run(first.run_id).data.tags["k"] == "v" and first.experiment_id == second.experiment_id
    assert client.get_experiment(first.experiment_id).artifact_location == f"file://{tmp_path / 'artifacts'}/seeded"
