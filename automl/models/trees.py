from __future__ import annotations

from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from automl.models._base import FamilyContext, ModelFamily, Suggest


class _Forest(ModelFamily):
    classifier: type
    regressor: type

    def suggest(self, s: Suggest, context: FamilyContext) -> None:
        s.int("n_estimators", 50, 300, log=True)
        s.float("max_features", 0.1, 1.0)
        s.int("min_samples_leaf", 1, 20, log=True)
        if s.categorical("limit_depth", [False, True]):
            s.int("max_depth", 3, 20)

    def defaults(self, context: FamilyContext) -> dict:
        return {"n_estimators": 200, "max_features": 0.5, "min_samples_leaf": 1, "limit_depth": False}

    def build(self, params: dict, context: FamilyContext):
        estimator = self.classifier if context.is_classification else self.regressor
        return estimator(
            n_estimators=params["n_estimators"],
            max_features=params["max_features"],
            min_samples_leaf=params["min_samples_leaf"],
            max_depth=params["max_depth"] if params["limit_depth"] else None,
            n_jobs=context.n_jobs,
            random_state=context.seed,
        )


class RandomForest(_Forest):
    name = "random_forest"
    classifier, regressor = RandomForestClassifier, RandomForestRegressor


class ExtraTrees(_Forest):
    name = "extra_trees"
    classifier, regressor = ExtraTreesClassifier, ExtraTreesRegressor
