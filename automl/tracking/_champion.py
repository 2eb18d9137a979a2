"""The champion policy: whether a new version takes the `champion` alias from the current one.

- `if_not_worse` (the default): the new model must score at least as well out of fold as the
  champion did, where the two are comparable (the same config, so the same training rows and
  folds), and must not be worse on this run's test rows beyond their noise: a paired bootstrap of
  the metric's difference, both models predicting the same rows, whose 95 % interval must reach 0.
  A small test split decides little on its own; this keeps a model that won the search from losing
  the alias to a difference of a row or two.
- `if_better`: the new test score beats the champion's test score, as recorded on its version.
- `always` / `never`: the alias always moves / is only ever set by hand.
The decision is plain values in, a verdict-first reason out: no MLflow here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automl.evaluation import PairedDifference

POLICIES = ("if_not_worse", "if_better", "always", "never")


@dataclass(frozen=True)
class HoldoutScore:
    """The new model's scores: on the test split (`rows` of them), and out of fold (`cv`), with the
    config hash that says which other versions' out-of-fold scores compare."""

    metric: str
    value: float
    greater_is_better: bool
    cv: float | None = None
    rows: int = 0
    config_hash: str | None = None

    def beats(self, other: float) -> bool:
        return self.value > other if self.greater_is_better else self.value < other

    def version_tags(self) -> dict[str, str]:
        """What a version keeps of its scores, for the next run's decision."""
        tags = {"metric": self.metric, "test_score": repr(self.value)}
        if self.rows:
            tags["test_rows"] = str(self.rows)
        if self.cv is not None:
            tags["cv_score"] = repr(self.cv)
        if self.config_hash:
            tags["config_hash"] = self.config_hash
        return tags


@dataclass(frozen=True)
class ChampionPolicy:
    """How the alias moves (`rule`, one of POLICIES) and, for if_not_worse, `compare`: the current
    champion's version number → the new model against it on this run's test rows (None, or an
    exception, where the champion cannot score them: the test scores on the versions decide)."""

    rule: str = "if_not_worse"
    compare: Callable[[str], PairedDifference | None] | None = None


@dataclass(frozen=True)
class Decision:
    moves: bool
    reason: str
    paired: PairedDifference | None = None


def decide(rule: str, score: HoldoutScore, current: str, tags: Mapping[str, str],
           paired: PairedDifference | None) -> Decision:
    """Whether the new version takes the alias from version `current`, whose version tags are `tags`."""
    if rule == "always":
        return Decision(True, f"moved: the policy is always (champion was v{current})")
    if rule == "never":
        return Decision(False, "kept: the policy is never (the alias is set by hand)")
    old_metric, old_test = tags.get("metric"), _number(tags.get("test_score"))
    if old_metric != score.metric or old_test is None:
        return Decision(False, f"kept: champion v{current} was scored with '{old_metric}', not '{score.metric}'; "
                               "set the alias by hand to compare")
    if rule == "if_better" or paired is None:
        wins = score.beats(old_test)
        return Decision(wins, f"{'moved' if wins else 'kept'}: test {score.metric} {score.value:.4f} "
                              f"{'beats' if wins else 'does not beat'} champion v{current}'s {old_test:.4f}")
    return _not_worse(score, current, tags, paired)


def _not_worse(score: HoldoutScore, current: str, tags: Mapping[str, str], paired: PairedDifference) -> Decision:
    noise = (f"on the {paired.rows} test rows (Δ {paired.difference:+.4f}, 95% [{paired.low:+.4f}, "
             f"{paired.high:+.4f}])")
    old_cv = _number(tags.get("cv_score"))
    comparable = old_cv is not None and score.cv is not None and tags.get("config_hash") == score.config_hash
    if comparable and ((score.cv < old_cv) if score.greater_is_better else (score.cv > old_cv)):
        return Decision(False, f"kept: out of fold {score.cv:.4f} is worse than champion v{current}'s "
                               f"{old_cv:.4f}", paired)
    if paired.worse_beyond_noise:
        return Decision(False, f"kept: worse than champion v{current} beyond the noise {noise}", paired)
    oof = (f"at least as good out of fold ({score.cv:.4f} vs {old_cv:.4f}) and " if comparable else "")
    return Decision(True, f"moved: {oof}not worse than champion v{current} beyond the noise {noise}", paired)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
