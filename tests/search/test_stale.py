"""Trials a dead process left RUNNING (or WAITING) in a stored study become interrupted FAIL
trials, through the storage's public methods (Optuna keeps a study's storage private)."""

import optuna
import pytest

from automl.search._resume import INTERRUPTED, INTERRUPTED_ATTR, fail_stale, record_of


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_stale_trials_fail_and_are_marked_interrupted(tmp_path, kind):
    url = f"sqlite:///{tmp_path / 'optuna.db'}" if kind == "sqlite" else optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "optuna.journal")))
    other = optuna.create_study(study_name="other", storage=url)  # a second study: ids differ from numbers
    other.tell(other.ask(), 1.0)
    study = optuna.create_study(study_name="stale", storage=url)
    study.tell(study.ask(), 0.5)
    study.ask()  # trial 1: RUNNING, its process gone
    study.enqueue_trial({})  # trial 2: WAITING
    assert fail_stale(study) == [1, 2]
    trials = optuna.load_study(study_name="stale", storage=url).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "FAIL"]
    assert [t.user_attrs.get(INTERRUPTED_ATTR) for t in trials] == [None, True, True]
    assert trials[1].user_attrs["fail_reason"] == INTERRUPTED and record_of(trials[1]).interrupted
    assert optuna.load_study(study_name="other", storage=url).trials[0].state.name == "COMPLETE"
