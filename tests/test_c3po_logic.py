"""C3PO's pure rules: duplicates, scope mismatches, the seeded split, the eval arithmetic."""

from __future__ import annotations

import math

import pytest

from datagen.errors import InvalidInput
from datagen_plugins.c3po import logic
from datagen_plugins.c3po.evaluation import summarize
from datagen_plugins.c3po.options import FeedbackPrefsOptions


def test_near_copies_point_at_the_first_kept_text():
    texts = [
        "Write an email to my boss about the budget",
        "write an email to my boss about the budget!",
        "Plan a birthday party for my sister",
        "Write an email to my boss about the new budget",
    ]
    assert logic.find_duplicates(texts, 0.8) == [None, 0, None, 0]
    assert logic.find_duplicates(texts, 1.0) == [None, 0, None, None]


@pytest.mark.parametrize(
    ("scope", "applies", "dropped"),
    [("in_scope", True, False), ("in_scope", False, True), ("near_scope", True, True),
     ("near_scope", False, False), ("out_of_scope", True, True), ("out_of_scope", False, False)],
)
def test_a_prompt_is_dropped_when_the_feedback_applies_outside_its_scope(scope, applies, dropped):
    reason = logic.scope_mismatch(scope, applies)
    assert (reason is not None) == dropped
    if dropped:
        assert reason.startswith("out of intended scope")


def test_the_split_is_ten_percent_seeded_and_stable():
    ids = [f"p{n:03d}" for n in range(100)]
    first = logic.assign_split(ids, 0.1, 7, "f1", "in_scope")
    assert sum(v == "test" for v in first.values()) == 10
    assert logic.assign_split(list(reversed(ids)), 0.1, 7, "f1", "in_scope") == first
    other_seed = logic.assign_split(ids, 0.1, 8, "f1", "in_scope")
    assert other_seed != first
    assert sum(v == "test" for v in other_seed.values()) == 10


@pytest.mark.parametrize(("size", "expected"), [(0, 0), (1, 0), (2, 1), (9, 1), (15, 2), (960, 96)])
def test_test_counts_round_the_fraction_and_keep_one_when_there_are_two(size, expected):
    assert logic.test_count(size, 0.1) == expected
    assert logic.test_count(size, 0.0) == 0


def test_pool_draws_differ_by_feedback_and_repeat_by_seed():
    pool = [f"prompt {n}" for n in range(50)]
    a = logic.draw(pool, 10, 0, "pool", "feedback-a")
    assert a == logic.draw(pool, 10, 0, "pool", "feedback-a")
    assert a != logic.draw(pool, 10, 0, "pool", "feedback-b")
    assert len(set(a)) == 10
    assert len(logic.draw(pool, 80, 0, "pool", "x")) == 50


def test_unknown_scope_kind_names_the_row_and_the_allowed_kinds():
    with pytest.raises(InvalidInput, match=r"demo@1 row p7: unknown scope kind 'sideways'.*"
                                           r"in_scope, near_scope, out_of_scope"):
        logic.check_kind("sideways", "demo@1 row p7")


@pytest.mark.parametrize(("score", "value"), [(1, -1.0), (2, -0.5), (3, 0.0), (4, 0.5), (5, 1.0)])
def test_judge_scores_map_to_s_minus_3_over_2(score, value):
    assert logic.mapped(score) == value


def test_s_in_s_out_and_s_overall_from_known_scores():
    judged = [("in_scope", 5), ("in_scope", 4), ("in_scope", 2),  # 1, .5, -.5 -> 1/3
              ("near_scope", 1), ("out_of_scope", 3), ("out_of_scope", 4)]  # |-1|, 0, .5 -> .5
    score = logic.feedback_score(judged)
    assert score.s_in == pytest.approx(1 / 3)
    assert score.s_out == pytest.approx(0.5)
    assert score.overall == pytest.approx((1 / 3 + 1 - 0.5) / 2)
    assert (score.n_in, score.n_out) == (3, 3)


def test_paper_headline_arithmetic():
    assert logic.overall(0.563, 0.150) == pytest.approx(0.7065)
    assert logic.overall(0.326, 0.517) == pytest.approx(0.4045)


def test_overall_figures_average_feedbacks_and_leave_out_incomplete_ones():
    rows = [
        {"feedback_id": "a", "kind": "in_scope", "score": 5},
        {"feedback_id": "a", "kind": "near_scope", "score": 3},
        {"feedback_id": "b", "kind": "in_scope", "score": 3},
        {"feedback_id": "b", "kind": "out_of_scope", "score": 1},
        {"feedback_id": "c", "kind": "in_scope", "score": 4},  # nothing judged outside
    ]
    overall, per_feedback = summarize(rows)
    assert per_feedback["a"]["S_overall"] == pytest.approx(1.0)
    assert per_feedback["b"]["S_overall"] == pytest.approx(0.0)
    assert per_feedback["c"]["S_out"] is None
    assert overall["S_in"] == pytest.approx(0.5)
    assert overall["S_out"] == pytest.approx(0.5)
    assert overall["S_overall"] == pytest.approx(0.5)
    assert (overall["feedbacks"], overall["incomplete_feedbacks"]) == (2, 1)
    assert not any(isinstance(v, float) and math.isnan(v) for v in overall.values())


def test_option_defaults_are_the_papers():
    options = FeedbackPrefsOptions()
    assert options.categories == 30
    assert (options.in_scope_prompts, options.near_scope_prompts,
            options.out_of_scope_prompts) == (960, 960, 960)
    assert options.test_fraction == 0.1
    assert options.per_category("in_scope") == 40  # 960 x 1.25 / 30
