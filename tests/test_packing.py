"""Packed MLP trials in the search: each member its own trial, sharing the leader's shape."""

import optuna
import pytest
import torch

from automl.data import load_dataset, split_dataset
from automl.models import FAMILIES, ModelFamily
from automl.models.mlp import MLP
from automl.pipeline import pack_size
from automl.search import run_search

from .test_search import ListLogger, space_for


@pytest.fixture(scope="module")
def cancer():
    from automl.config import parse_config

    dataset = load_dataset(parse_config({"search": {"cv_folds": 2}}))
    return dataset, split_dataset(dataset, 0.2, seed=0)


def test_packed_trials_share_the_shape_and_stay_separate_trials(cancer):
    dataset, split = cancer
    logger = ListLogger()
    result = run_search(space_for(dataset, ["mlp"], n_features=30), split.X_train, split.y_train, folds=2,
                        study_name="packed", storage=None, n_trials=8, timeout_s=None, pack_size=4, pruner="none",
                        logger=logger)
    trials = result.study.trials
    assert len(trials) == 8 and len(logger.records) == 8
    assert [t.user_attrs.get("packed_with") for t in trials] == [None, 0, 0, 0, None, 4, 4, 4]
    assert all(t.user_attrs["pack_size"] == 4 for t in trials)
    for leader in (0, 4):
        pack = [trials[i] for i in range(leader, leader + 4)]
        shared = [{k: v for k, v in t.params.items() if k.split(".")[-1] not in MLP.member_params} for t in pack]
        assert all(s == shared[0] for s in shared)
        assert len({t.params["mlp.learning_rate"] for t in pack}) == 4  # the members differ
    assert trials[0].params["mlp.learning_rate"] == 1e-3  # the warm-start default leads the first pack
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert all(len(r.fold_scores) == 2 and r.epoch_history for r in logger.records)
    assert result.study.best_value > 0.95


def test_packing_mixes_with_other_families_and_respects_the_budget(cancer):
    dataset, split = cancer
    logger = ListLogger()
    result = run_search(space_for(dataset, ["linear", "mlp"], n_features=30), split.X_train, split.y_train,
                        folds=2, study_name="mixed", storage=None, n_trials=7, timeout_s=None, pack_size=4,
                        logger=logger)
    assert len(result.study.trials) == 7
    assert [r.family for r in logger.records[:2]] == ["linear", "mlp"]
    assert {r.state for r in logger.records} <= {"COMPLETE", "PRUNED"}


class OutOfMemory(ModelFamily):
    """Models that fail as a GPU out of memory would: that trial fails, the study goes on."""

    name = "oom"

    def suggest(self, s, context):
        s.int("size", 1, 2)

    def defaults(self, context):
        return {"size": 1}

    def build(self, params, context):
        class Exhausting:
            def fit(self, X, y):
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")

        return Exhausting()


def test_an_out_of_memory_trial_fails_alone(cancer, monkeypatch):
    monkeypatch.setitem(FAMILIES, "oom", OutOfMemory())
    dataset, split = cancer
    logger = ListLogger()
    result = run_search(space_for(dataset, ["oom", "linear"], n_features=30), split.X_train, split.y_train,
                        folds=2, study_name="oom", storage=None, n_trials=3, timeout_s=None, logger=logger)
    [oom] = [r for r in logger.records if r.family == "oom"]
    assert oom.state == "FAIL" and "OutOfMemoryError: CUDA out of memory" in oom.fail_reason
    assert result.best_params["family"] == "linear"


def test_auto_packs_only_on_cuda(make_config):
    assert pack_size(make_config(search={"pack_trials": "auto"})) == (8 if torch.cuda.is_available() else 1)
    assert pack_size(make_config(search={"pack_trials": "on", "pack_size": 16})) == 16
    assert pack_size(make_config(search={"pack_trials": "off"})) == 1
