"""Packed MLP trials: K Optuna trials of one MLP shape trained together, by ask-and-tell.

A leader trial is asked as usual. If it drew the MLP, K-1 followers are enqueued with the leader's
shared parameters fixed (everything but learning rate, weight decay and dropout), so the sampler
draws only what packed members may differ in. Each member stays its own trial, with its own
reports, pruning, state and MLflow child run.
"""

from __future__ import annotations

import time

import numpy as np
import optuna
from sklearn.pipeline import Pipeline

from automl.evaluation import score
from automl.models.mlp import MLP
from automl.search import EPOCH_STEP_BASE, MIN_EPOCHS_BEFORE_PRUNING, Objective, TrialRecord, build_pipeline, suggest_pipeline
from automl.torch_models import fit_packed

TrialState = optuna.trial.TrialState


def shared_params(trial: optuna.trial.FrozenTrial | optuna.Trial) -> dict:
    """The leader's parameters that every member of its pack must share."""
    return {name: value for name, value in trial.params.items()
            if not (name.startswith("mlp.") and name.split(".", 1)[1] in MLP.member_params)}


def optimize_packed(study: optuna.Study, objective: Objective, *, n_trials: int | None, timeout_s: float | None,
                    pack_size: int, warm_start: list[dict], callbacks: list = ()) -> None:
    """Like study.optimize, but MLP trials are asked and trained `pack_size` at a time;
    `callbacks` run after each ask-train-tell round, as study.optimize's do after each trial."""
    started, waiting = time.perf_counter(), list(warm_start)
    while True:
        for callback in callbacks:
            callback(study, None)
        done = len(objective.records)
        if (n_trials is not None and done >= n_trials) or (timeout_s is not None
                                                           and time.perf_counter() - started >= timeout_s):
            return
        if objective.deadline.search_left() <= 0 and objective.completed_any():
            return
        if waiting:  # enqueued one at a time, so followers never queue behind them
            study.enqueue_trial(waiting.pop(0), user_attrs={"warm_start": True})
        leader = study.ask()
        params = suggest_pipeline(leader, objective.space)
        if params["family"] != "mlp":
            _tell_single(study, objective, leader)
            continue
        room = pack_size if n_trials is None else min(pack_size, n_trials - done)
        fixed = shared_params(leader)
        followers = []
        for _ in range(room - 1):
            study.enqueue_trial(fixed, user_attrs={"packed_with": leader.number})
            followers.append(study.ask())
        _evaluate_pack(study, objective, [leader, *followers])


def _tell_single(study: optuna.Study, objective: Objective, trial: optuna.Trial) -> None:
    try:
        value = objective(trial)
    except optuna.TrialPruned:
        study.tell(trial, state=TrialState.PRUNED)
    except Exception:  # recorded by the objective, with its reason
        study.tell(trial, state=TrialState.FAIL)
    else:
        study.tell(trial, value)


def _evaluate_pack(study: optuna.Study, objective: Objective, trials: list[optuna.Trial]) -> None:
    """Cross-validate K MLP trials together; tell and log each on its own."""
    started = time.perf_counter()
    space, X, y = objective.space, objective.X, objective.y
    params = [suggest_pipeline(trial, space) for trial in trials]
    records = [TrialRecord(t.number, "mlp", p, "RUNNING", None, [], 0.0) for t, p in zip(trials, params)]
    for trial, p in zip(trials, params):
        trial.set_user_attr("pipeline_params", p)
        trial.set_user_attr("pack_size", len(trials))
    active = list(range(len(trials)))
    try:
        for fold, (train_idx, valid_idx) in enumerate(objective.splits):
            pipelines = [build_pipeline(params[i], space) for i in active]
            # preprocess + SelectKBest are shared by the pack (k and the score function are fixed)
            head = Pipeline(pipelines[0].steps[:-1]).fit(X.iloc[train_idx], y.iloc[train_idx])
            models = [pipeline.named_steps["model"] for pipeline in pipelines]
            pruned: set[int] = set()

            def report(epoch: int, index: int, values: dict[str, float], members=tuple(active)) -> bool:
                i = members[index]
                records[i].epoch_history.append({"fold": fold, "epoch": epoch, **values})
                trials[i].report(-objective.sign * values["val_loss"], step=EPOCH_STEP_BASE * (fold + 1) + epoch)
                if epoch >= MIN_EPOCHS_BEFORE_PRUNING and trials[i].should_prune():
                    pruned.add(i)
                    return True
                return False

            fit_packed(models, head.transform(X.iloc[train_idx]), y.iloc[train_idx], [report])
            for i, model in zip(list(active), models):
                if i not in pruned:
                    fitted = Pipeline([*head.steps, ("model", model)])
                    records[i].fold_scores.append(score(space.metric, fitted, X.iloc[valid_idx], y.iloc[valid_idx]))
                    trials[i].report(float(np.mean(records[i].fold_scores)), step=fold)
                    if not trials[i].should_prune():
                        continue
                records[i].state = "PRUNED"
                active.remove(i)
            if not active:
                break
        for i in active:
            records[i].state, records[i].value = "COMPLETE", float(np.mean(records[i].fold_scores))
    except Exception as error:  # e.g. CUDA out of memory: the pack's running members fail, the study goes on
        reason = f"{type(error).__name__}: {error}"[:500]
        for i in active:
            records[i].state, records[i].fail_reason = "FAIL", reason
            trials[i].set_user_attr("fail_reason", reason)
        objective.release_device_memory(error)
    share = (time.perf_counter() - started) / len(trials)
    for trial, record in zip(trials, records):
        record.duration_s = share
        if record.state == "COMPLETE":
            study.tell(trial, record.value)
        else:
            study.tell(trial, state=TrialState.PRUNED if record.state == "PRUNED" else TrialState.FAIL)
        objective.finish(record)
