"""ICAI's pure rules with plain values: k-means, vote un-shuffling, tallies, the filter,
ranking, re-clustering, and reading pairs through the column mapping."""

from __future__ import annotations

import pytest

from datagen.errors import InvalidInput
from datagen_plugins.icai.logic import (
    Tally,
    best_of_each,
    drop_reason,
    first_of_each,
    kmeans,
    parse_vote,
    ranked,
    representatives,
    tally,
    unshuffle,
    verdict,
)
from datagen_plugins.icai.options import ConstitutionOptions, PairColumns
from datagen_plugins.icai.pairs import read_pairs, resolve_columns, shown_order
from datagen_plugins.icai.propose import full_rule, rule_problem

# -- clustering ------------------------------------------------------------------------------

BLOBS = [[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0], [5.1, 5.0], [9.0, 0.0], [9.0, 0.2]]


def test_kmeans_separates_blobs_and_is_the_same_for_the_same_seed():
    labels, centroids = kmeans(BLOBS, 3, seed=7)
    assert len(set(labels[:3])) == 1 and len(set(labels[3:5])) == 1
    assert len(set(labels[5:])) == 1 and len(set(labels)) == 3
    assert centroids.shape == (3, 2)
    for seed in (0, 1, 2):
        assert kmeans(BLOBS, 3, seed)[0] == kmeans(BLOBS, 3, seed)[0]


def test_kmeans_caps_k_at_the_number_of_points_and_handles_duplicates():
    labels, centroids = kmeans([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], 5, seed=0)
    assert len(centroids) == 3
    assert labels[0] == labels[1] != labels[2]


def test_representative_is_the_member_nearest_its_centre_first_on_ties():
    assert representatives([0, 0, 1, 1], [0.5, 0.2, 0.3, 0.3]) == {0: 1, 1: 2}


def test_exact_duplicates_ignore_case_spacing_and_punctuation():
    rules = ["Select the response that is kind.", "select the  response that is KIND",
             "Select the response that is short."]
    assert first_of_each(rules) == [0, 2]


def test_a_proposed_completion_becomes_a_whole_rule_once():
    assert full_rule(" is  polite.") == "Select the response that is polite."
    assert full_rule("Select the response that is polite") == "Select the response that is polite."


def test_rules_over_the_word_limit_or_empty_after_the_prefix_are_refused():
    assert rule_problem("Select the response that is polite.", 10) == ""
    assert rule_problem(full_rule("is polite and kind and warm and short"), 10) == (
        "rule has 12 words, over max_words 10")
    assert rule_problem(full_rule(" ."), 10) == "rule says nothing after the prefix"
    assert rule_problem(full_rule("..."), 10) == "rule says nothing after the prefix"


# -- votes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "order", "pick"), [
    ("A", "ab", "a"), ("B", "ab", "b"), ("A", "ba", "b"), ("B", "ba", "a"),
    ("both", "ba", "both"), ("none", "ab", "none"),
])
def test_answers_about_the_shown_order_map_back_to_the_original_texts(answer, order, pick):
    assert unshuffle(answer, order) == pick


def test_verdicts_and_vote_parsing():
    assert [verdict(p, "b") for p in ("b", "a", "both", "none")] == [
        "for", "against", "abstain", "abstain"]
    assert [parse_vote(v) for v in ("a", " B ", "Both", "NONE", "maybe", 1, None)] == [
        "A", "B", "both", "none", None, None, None]


def test_tally_counts_each_verdict_per_rule():
    counts = tally([("r1", "for"), ("r1", "for"), ("r1", "against"), ("r2", "invalid"),
                    ("r2", "abstain")])
    assert counts["r1"] == Tally(votes_for=2, against=1)
    assert counts["r2"] == Tally(abstain=1, invalid=1)
    assert (counts["r1"].score, counts["r1"].total, counts["r2"].valid) == (1, 3, 1)


# -- filter and rank -------------------------------------------------------------------------


def test_the_filter_keeps_rules_with_more_for_than_against_enough_share_and_few_invalid():
    assert drop_reason(Tally(votes_for=3, against=1, abstain=6), 0.1) == ""
    assert drop_reason(Tally(votes_for=2, against=2), 0.1).startswith("for (2) not above")
    assert drop_reason(Tally(votes_for=1, abstain=19), 0.1) == "for (1) below 10% of 20 votes"
    assert drop_reason(Tally(votes_for=2, abstain=18), 0.1) == ""
    assert drop_reason(Tally(votes_for=3, invalid=3), 0.1).startswith("invalid votes (3)")
    assert drop_reason(Tally(), 0.1) == "no votes"


def test_ranking_by_for_minus_against_then_for_then_given_order():
    counts = {"a": Tally(votes_for=5, against=3), "b": Tally(votes_for=4),
              "c": Tally(votes_for=2), "d": Tally(votes_for=4)}
    assert ranked(["a", "b", "c", "d"], counts) == ["b", "d", "a", "c"]


def test_best_of_each_theme_keeps_rank_order():
    assert best_of_each(["x", "y", "z", "w"], [1, 1, 0, 2]) == ["x", "z", "w"]


def test_options_default_to_the_papers_numbers():
    options = ConstitutionOptions()
    assert (options.rules_per_pair, options.max_words, options.rules_per_vote) == (2, 10, 40)
    assert (options.max_rules, options.shortlist, options.min_for_share) == (5, 7, 0.1)
    assert options.cluster_count(30) == 40 and options.cluster_count(65) == 87
    assert ConstitutionOptions(clusters=12).cluster_count(30) == 12


# -- pairs -----------------------------------------------------------------------------------


def pairs(rows, **options):
    columns = PairColumns(**options)
    mapping = resolve_columns(list(rows[0]), columns, need_label=True, where="t.jsonl")
    return read_pairs(rows, mapping, columns, "t.jsonl")


def test_trl_preference_rows_need_no_mapping_and_chosen_is_preferred():
    (pair,) = pairs([{"prompt": "q", "chosen": "good", "rejected": "bad"}])
    assert (pair.prompt, pair.text_a, pair.text_b, pair.preferred) == ("q", "good", "bad", "a")
    (flipped,) = pairs([{"prompt": "q", "chosen": "good", "rejected": "bad"}], flip_labels=True)
    assert flipped.preferred == "b"


def test_icai_rows_name_the_preferred_column_and_ties_are_kept_unused():
    rows = [{"text_a": "x", "text_b": "y", "preferred_text": "text_b"},
            {"text_a": "x", "text_b": "z", "preferred_text": "A"},
            {"text_a": "x", "text_b": "w", "preferred_text": "tie"},
            {"text_a": "x", "text_b": "v", "preferred_text": None}]
    read = pairs(rows)
    assert [p.preferred for p in read] == ["b", "a", None, None]
    assert [p.skip_reason for p in read] == ["", "", "tie", "no label"]


def test_conversations_become_role_tagged_text():
    (pair,) = pairs([{"chosen": [{"role": "user", "content": "hi"},
                                 {"role": "assistant", "content": "hello"}],
                      "rejected": [{"role": "assistant", "content": "go away"}]}])
    assert pair.text_a == "user: hi\n\nassistant: hello"


def test_mapped_columns_and_the_errors_that_name_what_is_wrong():
    rows = [{"q": "p", "left": "x", "right": "y", "winner_is": "right"}]
    (pair,) = pairs(rows, prompt_column="q", text_a_column="left", text_b_column="right",
                    preferred_column="winner_is")
    assert (pair.prompt, pair.preferred) == ("p", "b")
    with pytest.raises(InvalidInput, match="no preferred column: the input has left, right"):
        pairs([{"left": "x", "right": "y"}], text_a_column="left", text_b_column="right")
    with pytest.raises(InvalidInput, match=r"t.jsonl: row 1: preferred_text = 'c' names neither"):
        pairs([{"text_a": "x", "text_b": "y", "preferred_text": "c"}])
    with pytest.raises(InvalidInput, match="no pair of texts"):
        pairs([{"foo": "x"}])


def test_the_shown_order_is_seeded_and_mixes_both_orders():
    orders = [shown_order(3, f"pair-{i}") for i in range(40)]
    assert orders == [shown_order(3, f"pair-{i}") for i in range(40)]
    assert {"ab", "ba"} == set(orders)
    assert orders != [shown_order(4, f"pair-{i}") for i in range(40)]
