"""Packed trials: K trials of one shape trained together through the same cross-validation as a
trial alone, each still its own trial, pruning decision, out-of-fold predictions and log call."""

import numpy as np
import optuna
import torch

from automl.ensemble import final_model
from automl.evaluation import score_predictions
from automl.models.mlp import MLP
from automl.pipeline import load_and_validate, pack_size
from automl.search import Deadline, SearchSettings, run_search


def test_packed_trials_share_the_shape_and_stay_separate_trials(cancer, space_for, trial_log):
    dataset, split = cancer
    result = run_search(space_for(dataset, ["mlp"]), split.X_train, split.y_train,
                        SearchSettings(study_name="packed", folds=2, n_trials=8, pruner="none", pack_size=4), trial_log)
    trials = result.trials
    assert len(trials) == 8 and len(trial_log.records) == 8
    assert [t.user_attrs.get("packed_with") for t in trials] == [None, 0, 0, 0, None, 4, 4, 4]
    assert all(r.pack_size == 4 == t.user_attrs["pack_size"] for r, t in zip(result.records, trials))
    for leader in (0, 4):
        pack = [trials[i] for i in range(leader, leader + 4)]
        shared = [{k: v for k, v in t.params.items() if k.split(".")[-1] not in MLP.member_params} for t in pack]
        assert all(s == shared[0] for s in shared)
        assert len({t.params["mlp.learning_rate"] for t in pack}) == 4  # the members differ
    default = MLP().defaults(space_for(dataset, ["mlp"]).context)["learning_rate"]
    assert trials[0].params["mlp.learning_rate"] == default  # the warm-start default leads the first pack
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    # what a trial alone gets, each packed member gets: folds, fold times, epochs, OOF predictions
    timed_folds = [len(r.fold_seconds) for r in result.records]  # a time per fold, as a trial alone has
    assert all(len(r.fold_scores) == 2 and r.epoch_history for r in result.records) and timed_folds == [2] * 8
    assert set(result.oof) == set(range(8)) and all(p.shape == (len(split.y_train), 2) for p in result.oof.values())
    assert result.best_value > 0.95


def oof_score(final, result, y):
    """The final model's out-of-fold score: its members' OOF predictions, blended by its weights."""
    weights = final.selection.weights if final.kind == "ensemble" else {result.best.number: 1}
    blend = sum(w * result.oof[n] for n, w in weights.items()) / sum(weights.values())
    return score_predictions(result.space.metric, y, blend, result.classes)


def test_packs_under_a_tight_deadline_enter_the_ensemble_and_end_in_time(cancer, space_for, trial_log,
                                                                         step_clock):
    """Time is counted in clock reads (one per fold, epoch and trial end): a budget of 250 reads
    leaves room for a few packs, not for 40 trials."""
    dataset, split = cancer
    deadline = Deadline(at=250.0, clock=step_clock)
    result = run_search(space_for(dataset, ["linear", "mlp"]), split.X_train, split.y_train,
                        SearchSettings(study_name="tight", folds=2, n_trials=40, pack_size=4), trial_log,
                        deadline=deadline)
    records = {r.number: r for r in result.records}
    packed = [r for r in result.records if r.pack_size == 4 and r.state == "COMPLETE"]
    assert len(packed) >= 2 and {r.number for r in packed} <= set(result.oof)  # packed members are in the pool
    assert len(result.records) < 40  # the deadline, not the trial budget, ended the search
    cut = [r for r in result.records if r.reason and r.reason.startswith("out of time")]
    assert cut and all(r.state == "PRUNED" for r in cut) and cut[-1].number == max(records)
    assert step_clock.now <= deadline.at - deadline.reserve_s + 2 * step_clock.step  # the search left its reserve
    final = final_model(result, split.X_train, split.y_train, deadline)
    assert oof_score(final, result, split.y_train) >= result.best_value - 1e-12  # never worse than the best trial
    if final.kind == "single":
        assert final.selection.best_single == result.best.number
    assert step_clock.now <= deadline.at  # the whole run, refit included, inside its budget


def test_an_out_of_memory_error_inside_a_pack_fails_only_that_packs_trials(cancer, space_for, trial_log,
                                                                           out_of_memory_family):
    dataset, split = cancer
    result = run_search(space_for(dataset, ["linear", out_of_memory_family]), split.X_train, split.y_train,
                        SearchSettings(study_name="oom", folds=2, n_trials=10, pack_size=3), trial_log)
    failed = [r for r in result.records if r.state == "FAIL"]
    assert [r.number for r in failed] == [1, 2, 3]  # the first pack: the default leader and its two followers
    assert all("OutOfMemoryError: CUDA out of memory" in r.reason for r in failed)
    assert len(result.records) == 10 and {r.state for r in result.records if r not in failed} <= {"COMPLETE", "PRUNED"}
    later = [r for r in result.records if r.family == out_of_memory_family and r.number > 3]
    assert later and all(r.state != "FAIL" for r in later)  # packs after it train


def test_auto_packs_only_on_cuda(make_config):
    def size(**search):
        return pack_size(load_and_validate(make_config(search={"families": ["mlp"], **search})))

    assert size(pack_trials="auto") == (8 if torch.cuda.is_available() else 1)
    assert size(pack_trials="on", pack_size=16) == 16
    assert size(pack_trials="off") == 1


def test_a_member_whose_predictions_fail_fails_alone(cancer, space_for, trial_log, monkeypatch):
    """One member of a pack predicts NaN (a diverged model): that trial fails, its pack mates go on."""
    from automl.nn import TorchMLPClassifier

    real = TorchMLPClassifier.predict_proba

    def diverged(self, X):
        proba = real(self, X)
        diverged_one = self.training.learning_rate != default_lr  # all but the default
        return np.full_like(proba, np.nan) if diverged_one else proba

    monkeypatch.setattr(TorchMLPClassifier, "predict_proba", diverged)
    dataset, split = cancer
    default_lr = MLP().defaults(space_for(dataset, ["mlp"]).context)["learning_rate"]
    result = run_search(space_for(dataset, ["mlp"]), split.X_train, split.y_train,
                        SearchSettings(study_name="nan", folds=2, n_trials=3, pruner="none", pack_size=3), trial_log)
    states = [r.state for r in result.records]
    assert states == ["COMPLETE", "FAIL", "FAIL"] and all("NaN" in r.reason for r in result.records[1:])
    assert set(result.oof) == {0}
