"""Names a user types, in one place: the model families' names, and the hint for a misspelt name.

The family names live here, not in automl.models, so that automl.config (the Prefect form's
choices) can read them without importing PyTorch; automl.models builds its registry from them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

# Adding a family: its class in automl/models/ (with this `name`), the class in automl.models's
# CLASSES, and its name here; automl.models refuses to import when the two disagree.
FAMILY_NAMES: tuple[str, ...] = ("linear", "random_forest", "extra_trees", "hist_gradient_boosting", "mlp", "tabm")
# The families `automl distill` trains students of (distill.students): the PyTorch MLP, and a shallow
# histogram boosting model for latency.
STUDENT_NAMES: tuple[str, ...] = ("mlp", "hist_gradient_boosting")
assert set(STUDENT_NAMES) <= set(FAMILY_NAMES)


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` most likely misspells: one equal but for case first, else difflib's closest."""
    choices = [str(choice) for choice in choices]
    same_letters = [choice for choice in choices if choice.lower() == word.lower()]
    found = same_letters or difflib.get_close_matches(word, choices, n=1)
    return found[0] if found else None


def did_you_mean(word: str, choices: Iterable[str], prefix: str = "", name_word: bool = False) -> str:
    """" Did you mean 'choice'?" for the closest choice (written after `prefix`; with `name_word`:
    "… for 'word'?"), or "" when none is close: the hint every "unknown name" error ends with."""
    match = closest(word, choices)
    if match is None:
        return ""
    return f" Did you mean '{prefix}{match}'" + (f" for '{word}'?" if name_word else "?")


def metric_name(name: str) -> str:
    """A user's name (a column, a class label) as an MLflow metric name allows it: letters, digits,
    _ - . space / : kept, anything else (`<=50K`, `%`, `(`) written as _."""
    return re.sub(r"[^\w\-. /:]", "_", str(name))
