"""Many processes filling one stored study (`search.workers`): who asks next, and how many are left.

Each worker runs the ordinary search (run_search with `worker=i`) against the storage itself: a
journal file (processes on one host) or an RDB such as PostgreSQL (processes on many hosts).
Asking happens under a lock that every worker of the study takes: a file lock beside a journal
or SQLite file, a PostgreSQL advisory lock on the server (so workers on other hosts take it too).
Under it a worker counts the trials the study holds, enqueues the next warm-start default that no
worker has, and asks; so `n_trials` is exact across workers and each default runs once.
What the workers leave (trials with their records, out-of-fold predictions in the checkpoint
folder) is read back by collect_search, in the process that ensembles and registers.
"""

from __future__ import annotations

import optuna

from automl.locks import NamedLock
from automl.search._resume import INTERRUPTED_ATTR


class StudyLock(NamedLock):
    """The lock every process of one study takes around asking (see the module's docstring), in
    the study's storage (a journal file or an RDB URL) under the study's name: StudyLock(storage,
    study_name)."""


def counted_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The study's trials that count toward n_trials: every one asked, but those a dead process
    left interrupted (they are run again)."""
    return [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(INTERRUPTED_ATTR)]


def warm_starts_taken(trials: list[optuna.trial.FrozenTrial]) -> set[int]:
    """The indices of the warm-start defaults some worker has enqueued (and not lost to a crash)."""
    return {t.user_attrs["warm_start"] for t in trials if "warm_start" in t.user_attrs}
