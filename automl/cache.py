"""automl's cache folder on this machine: what is built once and copied after (the empty MLflow
store new SQLite stores start from, tracking/_fresh.py; the empty Prefect database a fresh home starts
from, flows/temporary_server.py). AUTOML_CACHE_DIR overrides; else $XDG_CACHE_HOME/automl or
~/.cache/automl. Imports nothing heavy: Prefect's server process reads it before its own imports."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "AUTOML_CACHE_DIR"


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "automl"
