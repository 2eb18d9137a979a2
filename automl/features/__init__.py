"""What the models see: preprocessing (imputation, scaling, one-hot or native category codes, and
free text through the trial's text encoder, as one ColumnTransformer fitted inside each CV fold) and
SelectKBest (its score functions, and the feature profile logged before the search)."""

from automl.features._encoding import TextEncoding
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
from automl.features._text import (
                                            EMBEDDING_DIM,
                                            TEXT_WIDTHS,
                                            SentenceEncoder,
                                            TextTfidf,
                                            embed,
                                            encode_texts,
                                            encoding_seconds,
                                            load_encoder,
                                            uncached_seconds,
)
from automl.features._tuned import TunedSentenceEncoder, uncached_tuning_seconds

__all__ = ["EMBEDDING_DIM", "MAX_CATEGORIES", "MAX_NATIVE_CATEGORIES", "PROFILE_ROWS", "SCORE_FUNCS",
           "TASK_SCORE_FUNCS", "TEXT_WIDTHS", "FeatureProfile", "SentenceEncoder", "TextEncoding", "TextTfidf",
           "as_text", "build_native_preprocessor", "build_preprocessor", "embed", "encode_texts", "encoding_seconds",
           "load_encoder", "uncached_seconds", "TunedSentenceEncoder", "uncached_tuning_seconds",
           "profile_features", "profile_figure", "score_func", "valid_score_funcs"]
