"""The PyTorch families' common part: their trials pack, they train on the run's device, and their
parameters are the estimators' knobs by plain name (automl.nn)."""

from __future__ import annotations

from typing import Any, ClassVar

from automl.models._base import FamilyContext, ModelFamily
from automl.nn import MEMBER_KNOBS, fit_packed


class TorchFamily(ModelFamily):
    """A family of automl.nn estimators: packed trials may differ in the members' own knobs only."""

    member_params = MEMBER_KNOBS
    uses_device = True
    classifier: ClassVar[type]
    regressor: ClassVar[type]

    def fixed(self, context: FamilyContext) -> dict[str, Any]:
        """Knobs the search does not draw (a drawn parameter of the same name wins)."""
        return {}

    def build(self, params: dict, context: FamilyContext):
        estimator = self.classifier if context.is_classification else self.regressor
        return estimator.from_knobs(**(self.fixed(context) | params), device=context.device, random_state=context.seed)

    def fit(self, models: list, X, y, callbacks: list | None = None) -> None:
        fit_packed(models, X, y, callbacks)
