"""What the models see: preprocessing (imputation, scaling, one-hot or native category codes, as
one ColumnTransformer fitted inside each CV fold) and SelectKBest (its score functions, and the
feature profile logged before the search)."""

from automl.features._preprocessing import (
                                            MAX_CATEGORIES,
                                            MAX_NATIVE_CATEGORIES,
                                            as_text,
                                            build_native_preprocessor,
                                            build_preprocessor,
)
from automl.features._selection import (
                                            PROFILE_ROWS,
                                            SCORE_FUNCS,
                                            TASK_SCORE_FUNCS,
                                            FeatureProfile,
                                            profile_features,
                                            profile_figure,
                                            score_func,
                                            valid_score_funcs,
)

__all__ = ["MAX_CATEGORIES", "MAX_NATIVE_CATEGORIES", "PROFILE_ROWS", "SCORE_FUNCS", "TASK_SCORE_FUNCS",
           "FeatureProfile", "as_text", "build_native_preprocessor", "build_preprocessor", "profile_features",
           "profile_figure", "score_func", "valid_score_funcs"]
