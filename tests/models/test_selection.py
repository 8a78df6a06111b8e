"""Model selection (models.selection): the rule, the near-tie, the reason."""

import pytest

from talentflow.models.selection import select_model
from tests.models.synthetic_backtests import (
    synthetic_metrics,
)


def test_selection_picks_the_lower_mase_and_states_both_goals():
    selection = select_model(synthetic_metrics({"naive": (1.0, 0.80), "drift": (0.7, 0.80)}))
    row = selection.row(0, named=True)
    assert selection.columns == [
        "selected_model",
        "mase",
        "naive_mase",
        "mase_improvement",
        "coverage80",
        "coverage95",
        "meets_mase_goal",
        "meets_coverage_goal",
        "reason",
    ]
    assert row["selected_model"] == "drift"
    assert row["mase_improvement"] == pytest.approx(0.3)
    assert row["meets_mase_goal"] and row["meets_coverage_goal"]
    assert "MASE goal met" in row["reason"] and "coverage goal met" in row["reason"]


def test_on_a_near_tie_the_simpler_model_wins():
    near_tie = {"naive": (1.0, 0.8), "drift": (0.70, 0.8), "prophet": (0.69, 0.8)}
    row = select_model(synthetic_metrics(near_tie)).row(0, named=True)
    assert row["selected_model"] == "drift"
    assert "within 2 % of the lowest (prophet 0.690)" in row["reason"]
    clear_win = {"naive": (1.0, 0.8), "drift": (0.70, 0.8), "prophet": (0.60, 0.8)}
    assert select_model(synthetic_metrics(clear_win))["selected_model"].item() == "prophet"
    caller_order = select_model(synthetic_metrics(near_tie), simplicity=["naive", "prophet"])
    assert caller_order["selected_model"].item() == "prophet"


def test_the_reason_names_each_missed_goal_and_why():
    narrow = select_model(synthetic_metrics({"naive": (1.0, 0.8), "drift": (0.9, 0.61)}))
    row = narrow.row(0, named=True)
    assert not row["meets_mase_goal"] and not row["meets_coverage_goal"]
    assert "MASE goal missed: 10 % better than naive" in row["reason"]
    assert "intervals too narrow: 80 % interval covered 61 %" in row["reason"]
    wide = select_model(synthetic_metrics({"naive": (1.0, 0.97)})).row(0, named=True)
    assert wide["selected_model"] == "naive" and not wide["meets_mase_goal"]
    assert "no model beat the naive baseline" in wide["reason"]
    assert "intervals too wide: 80 % interval covered 97 %" in wide["reason"]


def test_selection_refuses_metrics_without_the_naive_baseline():
    with pytest.raises(ValueError, match="baseline 'naive'"):
        select_model(synthetic_metrics({"drift": (0.7, 0.8)}))
