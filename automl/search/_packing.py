"""Packing is grouping only: which trials train together. The cross-validation that trains them
is the one every trial goes through (automl.search._cv), with K = 1 for a trial alone.

A leader trial is asked as usual. If its family packs (ModelFamily.member_params), K-1 followers
are enqueued with the leader's shared parameters fixed, so the sampler draws only what members may
differ in. Each member stays its own trial, with its own reports, pruning, state and MLflow run.
"""

from __future__ import annotations

from typing import Any

import optuna

from automl.models import get_family
from automl.search._records import TrialRecord
from automl.search._resume import RECORD_ATTR, UNKNOWN, record_attr
from automl.search._space import SearchSpace, suggest_pipeline


def shared_params(trial: optuna.trial.FrozenTrial | optuna.Trial, family: str) -> dict[str, Any]:
    """The leader's parameters that every member of its pack must share."""
    own = get_family(family).member_params
    return {name: value for name, value in trial.params.items()
            if not (name.startswith(f"{family}.") and name.split(".", 1)[1] in own)}


class SuggestFailed(Exception):
    """A family's `suggest` raised: the trials asked for the group were told FAIL."""

    def __init__(self, asked: int, reason: str):
        super().__init__(reason)
        self.asked = asked


def ask_group(study: optuna.Study, space: SearchSpace, room: int) -> tuple[list[optuna.Trial], list[dict]]:
    """Ask one trial, and up to room-1 followers of one shape when its family packs; return the
    trials and their drawn pipeline parameters. The caller holds the search driver's lock
    (followers are enqueued, and must be asked by this caller before anyone else asks)."""
    trials: list[optuna.Trial] = []
    params: list[dict] = []
    try:
        trials.append(study.ask())
        params.append(suggest_pipeline(trials[0], space))
        family = params[0]["family"]
        if room > 1 and get_family(family).member_params:
            fixed = shared_params(trials[0], family)
            for _ in range(room - 1):
                study.enqueue_trial(fixed, user_attrs={"packed_with": trials[0].number})
                trials.append(study.ask())
                params.append(suggest_pipeline(trials[-1], space))
    except Exception as error:  # a family's search space raised: its trials fail, the study goes on
        reason = f"{type(error).__name__} while suggesting: {error}"[:500]
        for trial in trials:
            trial.set_user_attr("fail_reason", reason)
            record = TrialRecord(trial.number, params[0]["family"] if params else UNKNOWN, {}, "FAIL", reason=reason)
            trial.set_user_attr(RECORD_ATTR, record_attr(record))  # what a resumed search restores
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise SuggestFailed(len(trials), reason) from error
    return trials, params
