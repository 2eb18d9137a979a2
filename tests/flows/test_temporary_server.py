"""Prefect's temporary server on a fresh PREFECT_HOME (flows/temporary_server.py): the first fresh
home on a machine is migrated and kept as the template; a later fresh home starts as its copy (no
migrations), holds the same schema, and its server answers and stores what the client sends."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import prefect
import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def schema(db) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute("select type, name, sql from sqlite_master order by type, name").fetchall() + \
            connection.execute("select version_num from alembic_version").fetchall()


SERVE = r"""
import sys, httpx
from flows.lifecycle import TemporaryServer
server = TemporaryServer.launch()
try:
    server.wait(120)
    made = httpx.post(f"{server.api_url}/flows/", json={"name": sys.argv[1]}, timeout=30)
    assert made.status_code in (200, 201), made.text
finally:
    server.stop()
"""


def serve_once(home, cache) -> list[str]:
    """`automl run`'s temporary server on `home` until it answers and has stored a flow; → the
    start-up phases it printed (the server's stderr is the process's)."""
    env = {**os.environ, "PREFECT_HOME": str(home), "AUTOML_CACHE_DIR": str(cache), "AUTOML_TRACE_PHASES": "1"}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run([sys.executable, "-c", SERVE, f"made-in-{home.name}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return [line.split()[2] for line in done.stderr.splitlines() if line.startswith("automl: phase ")]


def test_a_fresh_home_is_a_copy_of_the_first_one_migrated(tmp_path):
    cache = tmp_path / "cache"
    template = tmp_path / "cache" / f"prefect-{prefect.__version__}-empty.db"
    assert serve_once(tmp_path / "first", cache) == ["home-migrated"]
    assert template.exists() and schema(template) == schema(tmp_path / "first" / "prefect.db")
    assert serve_once(tmp_path / "second", cache) == ["home-copied"]
    assert schema(tmp_path / "second" / "prefect.db") == schema(template)
    assert serve_once(tmp_path / "second", cache) == []  # a home with a database: left to Prefect
    with sqlite3.connect(tmp_path / "second" / "prefect.db") as db:  # what the copy's server stored, twice
        assert sorted(row[0] for row in db.execute("select name from flow")) == ["made-in-second"]
    with sqlite3.connect(template) as db:
        assert db.execute("select count(*) from flow").fetchone() == (0,)  # the template holds no run's rows
    assert not [p for p in (tmp_path / "second").iterdir() if p.name.endswith(".partial")]
