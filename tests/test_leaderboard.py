"""What won, told one way: the winner's name and the leaderboard's rows (final model, family bests,
top trials), from finished trials."""

import pandas as pd
import pytest

from automl.ensemble import FinalModel, Selection
from automl.leaderboard import Champion, leaderboard, markdown, winner, with_test_scores
from automl.search import SearchResult, TrialRecord


def trial(number, family, state, value, k=None, fold_seconds=(0.4, 0.6), predict=(0.05, 100)):
    return TrialRecord(number, family, {"family": family, "k": k, "score_func": "f_classif" if k else None,
                                        "model": {"alpha": number}}, state, value,
                       [value - 0.01, value + 0.01] if value is not None else [], 1.0,
                       fold_seconds=list(fold_seconds), predict_seconds=predict[0], predict_rows=predict[1])


@pytest.fixture
def result():
    records = [trial(0, "linear", "COMPLETE", 0.90, k=5), trial(1, "extra_trees", "COMPLETE", 0.95),
               trial(2, "extra_trees", "COMPLETE", 0.93), trial(3, "mlp", "PRUNED", 0.99),  # a partial score
               trial(4, "mlp", "COMPLETE", 0.80), trial(5, "linear", "FAIL", None)]
    return SearchResult("s", "maximize", records, space=None, folds=2)


def test_a_blend_wins_by_one_name_with_its_members_and_weights(result):
    selection = Selection({1: 2, 0: 1, 4: 1}, score=0.97, best_single=1, best_single_score=0.95, beats_single=True)
    won = winner(result, FinalModel(None, "ensemble", "OOF 0.97 vs 0.95", selection))
    assert won.name == "blend(extra_trees#1×2, linear#0, mlp#4)" and won.family == "blend"
    assert won.cv_score == 0.97 and won.weights == {1: 0.5, 0: 0.25, 4: 0.25}
    board = leaderboard(result, won, fit_s=2.5, predict_ms_per_1k=12.0, top=2)
    assert list(board["model"]) == ["blend(extra_trees#1×2, linear#0, mlp#4)", "extra_trees#1", "extra_trees#2",
                                    "linear#0", "mlp#4"]  # final, then top 2 and each family's best, by score
    assert list(board["kind"]) == ["final", "family best", "trial", "family best", "family best"]
    final = board.iloc[0]
    assert (final["cv_score"], final["fit_s"], final["predict_ms_per_1k_rows"]) == (0.97, 2.5, 12.0)
    assert final["members"] == "extra_trees#1 0.50, linear#0 0.25, mlp#4 0.25" and pd.isna(final["trial"])
    assert list(board["weight"].iloc[1:].fillna(0)) == [0.5, 0.0, 0.25, 0.25]
    assert 3 not in set(board["trial"].dropna())  # the pruned trial's partial 0.99 is not on the board
    assert board["fit_s"].iloc[1] == pytest.approx(0.5 - 0.05 / 2)  # a fold's fit, its predictions taken out
    assert board["predict_ms_per_1k_rows"].iloc[1] == pytest.approx(500.0)  # 0.05 s for 100 rows
    assert str(board["k"].dtype) == "Int64" and board["k"].iloc[3] == 5  # one type: no 5.0, no "None"
    table = markdown(board, "roc_auc")
    assert table.splitlines()[2].startswith("| blend(extra_trees#1×2, linear#0, mlp#4) | final | "
                                            "0.9700 | – | – | – | 2.50 | 12.0 |")


def test_a_single_pipeline_wins_by_its_trials_name(result):
    won = winner(result, FinalModel(None, "single", "no blend beat trial 1", None))
    assert (won.name, won.family, won.cv_score, won.weights) == ("extra_trees#1", "extra_trees", 0.95, {1: 1.0})
    board = leaderboard(result, won, fit_s=1.0, predict_ms_per_1k=3.0)
    assert board.iloc[0]["model"] == "extra_trees#1" and board.iloc[0]["trial"] == 1
    assert board.iloc[0]["kind"] == "final" and board.iloc[1]["weight"] == 1.0


def test_the_trial_table_keeps_partial_scores_apart(result):
    table = result.trial_table()
    assert list(table["trial"]) == [1, 2, 0, 4, 3, 5]  # complete ones by score, then the rest in order
    pruned = table.set_index("trial").loc[3]
    assert pd.isna(pruned["cv_score"]) and pruned["partial_cv_score"] == 0.99


def test_the_board_compares_the_final_model_with_the_best_trial_and_the_champion(result):
    """The final model's test score, its gaps out of fold (positive: better), the champion's row
    beside it; every score rounded to four digits. For a metric where lower is better, the gaps
    keep their meaning."""
    selection = Selection({1: 1, 0: 1}, score=0.97123456, best_single=1, best_single_score=0.95, beats_single=True)
    won = winner(result, FinalModel(None, "ensemble", "", selection))
    board = with_test_scores(leaderboard(result, won, 1.0, 2.0), 0.96555555, 1.0, Champion("3", 0.98, 0.955))
    final, champion = board.iloc[0], board.iloc[1]
    assert (final["cv_score"], final["test_score"]) == (0.9712, 0.9656)
    assert (final["gap_to_best_trial"], final["gap_to_champion"]) == (0.0212, -0.0088)
    assert (champion["model"], champion["kind"], champion["cv_score"], champion["test_score"]) == (
        "champion v3", "current champion", 0.98, 0.955)
    assert list(board["model"][2:]) == ["extra_trees#1", "extra_trees#2", "linear#0", "mlp#4"]
    assert "| champion v3 | current champion | 0.9800 | 0.9550 | – | – |" in markdown(board, "roc_auc")
    lower = with_test_scores(leaderboard(result, won, 1.0, 2.0), 0.3, -1.0, None)
    assert lower.iloc[0]["gap_to_best_trial"] == -0.1712  # 0.9712 against the lowest: mlp#4's 0.80
    assert pd.isna(lower.iloc[0]["gap_to_champion"])
    assert len(lower) == len(board) - 1  # no champion yet: no row for it
