"""The PyTorch families' common part: their trials pack, they train on the run's device, and their
parameters are the estimators' knobs by plain name (automl.nn).

The estimators are named, not imported: automl.nn imports PyTorch only when one is built or fitted,
so a run without these families never loads it."""

from __future__ import annotations

from typing import Any, ClassVar

from automl import nn
from automl.models._base import FamilyContext, ModelFamily


class TorchFamily(ModelFamily):
    """A family of automl.nn estimators: packed trials may differ in the members' own knobs only."""

    member_params = nn.MEMBER_KNOBS
    uses_device = True
    classifier: ClassVar[str]  # names in automl.nn
    regressor: ClassVar[str]

    def fixed(self, context: FamilyContext) -> dict[str, Any]:
        """Knobs the search does not draw (a drawn parameter of the same name wins)."""
        return {}

    def build(self, params: dict, context: FamilyContext):
        estimator = getattr(nn, self.classifier if context.is_classification else self.regressor)
        return estimator.from_knobs(**(self.fixed(context) | params), device=context.device, random_state=context.seed)

    def fit(self, models: list, X, y, callbacks: list | None = None) -> None:
        nn.fit_packed(models, X, y, callbacks)
