from __future__ import annotations

from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from automl.models._base import FamilyContext, ModelFamily, Suggest

EARLY_STOPPING_ROWS = 10_000  # from here on an inner 10% validation split is large enough to stop on


class HistGradientBoosting(ModelFamily):
    """scikit-learn's LightGBM-style boosting with native categorical splits and missing values (no
    one-hot encoding in front of it). On large tables it early-stops on an inner validation split;
    on small ones that split would be too noisy and cost a tenth of the rows, so the number of
    boosting rounds is searched instead (as scikit-learn's own default does below 10,000 rows)."""

    name = "hist_gradient_boosting"
    native_categorical = True

    def suggest(self, s: Suggest, context: FamilyContext) -> None:
        s.float("learning_rate", 0.01, 0.3, log=True)
        s.int("max_leaf_nodes", 8, 128, log=True)
        # A leaf may hold at most a tenth of the rows, or small tables could not split at all.
        s.int("min_samples_leaf", 2, max(3, min(100, context.n_rows // 10)), log=True)
        s.float("l2_regularization", 1e-6, 10.0, log=True)
        s.float("max_features", 0.3, 1.0)
        if context.n_rows < EARLY_STOPPING_ROWS:
            s.int("max_iter", 50, 1000, log=True)

    def defaults(self, context: FamilyContext) -> dict:
        defaults = {"learning_rate": 0.1, "max_leaf_nodes": 31,
                    "min_samples_leaf": max(2, min(20, context.n_rows // 10)),
                    "l2_regularization": 1e-6, "max_features": 1.0}
        return defaults | ({"max_iter": 100} if context.n_rows < EARLY_STOPPING_ROWS else {})

    def build(self, params: dict, context: FamilyContext):
        estimator = HistGradientBoostingClassifier if context.is_classification else HistGradientBoostingRegressor
        if "max_iter" in params:
            return estimator(**params, early_stopping=False, random_state=context.seed)
        return estimator(**params, max_iter=1000, early_stopping=True, validation_fraction=0.1,
                         n_iter_no_change=15, random_state=context.seed)
