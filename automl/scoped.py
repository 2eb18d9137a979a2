"""Process-wide settings that automl changes only for the length of a call, then puts back: a
library that a user imports must leave their process as it found it (their environment, their
Optuna log level), whatever automl needed meanwhile."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ inside the block (child processes started there inherit them); after
    it each variable is as it was before: its old value back, or removed."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def optuna_warnings_only() -> Iterator[None]:
    """Optuna logs warnings and errors only inside the block, not a line per study and trial (a
    quieter level the user chose is kept); their level is back after it."""
    import optuna

    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(previous, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)
