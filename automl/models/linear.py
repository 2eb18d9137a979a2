from __future__ import annotations

from sklearn.linear_model import LogisticRegression, Ridge

from automl.models._base import FamilyContext, ModelFamily, Suggest


class Linear(ModelFamily):
    """Logistic regression for classes, ridge regression for numbers."""

    name = "linear"

    def suggest(self, s: Suggest, context: FamilyContext) -> None:
        if context.is_classification:
            s.float("C", 1e-3, 1e2, log=True)
            s.categorical("class_weight", ["none", "balanced"])
        else:
            s.float("alpha", 1e-3, 1e3, log=True)

    def defaults(self, context: FamilyContext) -> dict:
        return {"C": 1.0, "class_weight": "none"} if context.is_classification else {"alpha": 1.0}

    def build(self, params: dict, context: FamilyContext):
        if context.is_classification:
            weight = None if params["class_weight"] == "none" else params["class_weight"]
            return LogisticRegression(C=params["C"], class_weight=weight, max_iter=2000,
                                      random_state=context.seed)
        return Ridge(alpha=params["alpha"], random_state=context.seed)
