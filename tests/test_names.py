"""One hint for every misspelt name, and one list of family names that the config and the
registry both read."""

from typing import get_args

import pytest

from automl.config import ALL_FAMILIES, Family
from automl.models import CLASSES, FAMILIES
from automl.names import FAMILY_NAMES, closest, did_you_mean


@pytest.mark.parametrize("word, choices, expected", [
    ("serach", ["search", "seed"], "search"),
    ("Y", ["x", "y"], "y"),  # the same letters in another case win over difflib's guess
    ("breast_cancr", ["breast_cancer", "diabetes"], "breast_cancer"),
    ("zzz", ["search", "seed"], None),
    ("a", [], None),
])
def test_closest_is_the_likely_misspelling_or_none(word, choices, expected):
    assert closest(word, choices) == expected


def test_did_you_mean_writes_the_one_hint():
    assert did_you_mean("serach", ["search"]) == " Did you mean 'search'?"
    assert did_you_mean("irs", ["iris"], prefix="sklearn:") == " Did you mean 'sklearn:iris'?"
    assert did_you_mean("bb", ["a", "b"], name_word=True) == " Did you mean 'b' for 'bb'?"
    assert did_you_mean("qqq", ["search"]) == ""


def test_the_family_names_are_one_list():
    assert list(get_args(Family)) == ALL_FAMILIES == list(FAMILY_NAMES) == list(FAMILIES)
    assert sorted(family.name for family in CLASSES) == sorted(FAMILY_NAMES)
