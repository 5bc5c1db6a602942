"""The pure rules of simulated annotators and users: seeded draws, agreement, dialogue moves."""

from __future__ import annotations

import pytest

from datagen_plugins.simulated.logic import (
    Dialogue,
    Move,
    QuestionPool,
    Turn,
    add_noise,
    agreement,
    breaks_role,
    clarifications_for,
    combine_orders,
    held_out_agreement,
    leaks_need,
    longest_shared_run,
    majority,
    next_move,
    pairwise_agreement,
    pick_question,
    route,
    shown_swapped,
    unswap,
)
from datagen_plugins.simulated.options import PrefsOptions, bundled_pool

IDS = [f"pair-{i}" for i in range(2000)]


def test_routing_is_fixed_by_seed_and_spreads_over_the_pool():
    first = [route(i, 7, 13) for i in IDS]
    assert first == [route(i, 7, 13) for i in IDS]
    counts = [first.count(k) for k in range(13)]
    assert min(counts) > 2000 / 13 * 0.7 and max(counts) < 2000 / 13 * 1.3
    other = [route(i, 8, 13) for i in IDS]
    assert sum(a != b for a, b in zip(first, other, strict=True)) > 1500
    with pytest.raises(ValueError, match="empty"):
        route("x", 0, 0)


def test_noise_replaces_the_given_fraction_by_a_coin_and_flips_half_of_those():
    noised = [add_noise(1, i, 3, 0.5) for i in IDS]
    noisy = [n for n in noised if n.is_noisy]
    assert 0.45 < len(noisy) / len(IDS) < 0.55
    flipped = sum(n.preference == 2 for n in noised)
    assert 0.2 < flipped / len(IDS) < 0.3  # paper: half replaced, so a quarter flipped
    assert all(n.preference == 1 for n in noised if not n.is_noisy)
    assert not any(add_noise(2, i, 3, 0.0).is_noisy for i in IDS)
    assert all(add_noise(2, i, 3, 1.0).is_noisy for i in IDS)
    assert noised == [add_noise(1, i, 3, 0.5) for i in IDS]


def test_order_control_swaps_about_half_and_unswaps_labels():
    swapped = [shown_swapped(i, 1, "judge-a") for i in IDS]
    assert 0.45 < sum(swapped) / len(IDS) < 0.55
    assert swapped == [shown_swapped(i, 1, "judge-a") for i in IDS]
    other = [shown_swapped(i, 1, "judge-b") for i in IDS]
    assert 0.4 < sum(a != b for a, b in zip(swapped, other, strict=True)) / len(IDS) < 0.6
    assert unswap(1, False) == 1 and unswap(1, True) == 2 and unswap(2, True) == 1
    assert combine_orders(2, 2) == 2
    assert combine_orders(1, 2) is None


def test_agreement_arithmetic():
    gold = {"a": 1, "b": 2, "c": 1, "d": 2}
    assert agreement({"a": 1, "b": 1, "c": 1, "e": 2}, gold) == pytest.approx(2 / 3)
    assert agreement({"z": 1}, gold) is None
    assert majority([1, 1, 2]) == 1 and majority([2, 1]) is None and majority([]) is None
    by_annotator = {"x": {"a": 1, "b": 1}, "y": {"a": 1, "b": 2}, "z": {"a": 2, "b": 2}}
    # pairs: x-y agree on a (1/2), x-z on none (0), y-z on b (1/2)
    assert pairwise_agreement(by_annotator) == pytest.approx((0.5 + 0.0 + 0.5) / 3)
    # each annotator held out against the majority of the other two (a tie counts half):
    # x: a others [1,2] tie .5, b others [2,2] -> 0 | y: a others [1,2] .5, b [1,2] .5
    # z: a others [1,1] -> 0, b others [1,2] .5
    assert held_out_agreement(by_annotator) == pytest.approx((0.5 + 0 + 0.5 + 0.5 + 0 + 0.5) / 6)
    assert held_out_agreement({"only": {"a": 1}}) is None


def test_the_bundled_pool_has_thirteen_distinct_annotators_at_temperature_one():
    pool = bundled_pool()
    assert len(pool) == 13
    assert len({a.name for a in pool}) == 13 and len({a.instructions for a in pool}) == 13
    assert {a.temperature for a in pool} == {1.0}
    assert {a.template for a in pool} == {"verdict", "reasoned"}
    assert PrefsOptions().annotators == pool


def test_dialogue_moves_with_clarification_and_three_unsatisfied_rounds():
    dialogue = Dialogue("n1", "how bees see colour", "Can bees see red?", clarify_left=1)
    script = [("system", "clarifying_question", ""), ("user", "clarifying_answer", ""),
              ("system", "answer", ""), ("user", "feedback", "too_vague"),
              ("system", "answer", ""), ("user", "feedback", "not_what_i_asked"),
              ("system", "answer", ""), ("user", "feedback", "too_vague")]
    moves = []
    for participant, kind, verdict in script:
        moves.append(next_move(dialogue, 3).value)
        dialogue.add(Turn(participant, "...", kind, verdict))
    assert moves == [kind for _, kind, _ in script]
    assert next_move(dialogue, 3) is Move.DONE
    assert dialogue.feedback_rounds == 3 and not dialogue.satisfied


def test_dialogue_ends_when_the_user_is_satisfied():
    dialogue = Dialogue("n2", "need", "opening")
    assert next_move(dialogue, 3) is Move.ANSWER  # no clarification budget
    dialogue.add(Turn("system", "an answer", "answer"))
    assert next_move(dialogue, 3) is Move.USER_FEEDBACK
    dialogue.add(Turn("user", "thanks", "feedback", "satisfied"))
    assert dialogue.satisfied and next_move(dialogue, 3) is Move.DONE


def test_clarification_rate_is_a_seeded_share():
    asked = [clarifications_for(i, 5, 0.3, 2) for i in IDS]
    assert set(asked) == {0, 2}
    assert 0.25 < asked.count(2) / len(IDS) < 0.35
    assert all(clarifications_for(i, 5, 1.0, 1) == 1 for i in IDS[:50])


def test_leak_check_by_shared_run_of_words():
    need = "Overview of COP26 in Glasgow"
    assert longest_shared_run(need, "I want an overview of COP26 in Glasgow, please.") == 5
    assert leaks_need(need, "I want an overview of COP26 in Glasgow, please.", 0.8, 3)
    assert not leaks_need(need, "Mostly what was decided there, the main outcomes.", 0.8, 3)
    assert not leaks_need(need, "COP26 I guess", 0.8, 3)  # 1 of 5 words
    assert leaks_need("Bee vision", "bee vision", 0.8, 3)  # a short need counts whole
    assert not leaks_need("", "anything", 0.8, 3)


def test_role_check_catches_the_assistant_voice():
    assert breaks_role("As an AI language model, I cannot have needs.")
    assert breaks_role("Sure! How can I help you today?")
    assert breaks_role("I mean the conference in Scotland, not the city.") is None


def test_pool_questions_are_picked_by_shared_words_and_not_repeated():
    pool = QuestionPool.of(["Are you asking about bees?", "Do you want recipes for cake?",
                            "Are you interested in honey bees or bumblebees?", ""])
    first = pick_question("How do bees see colours?", pool, "n", 0)
    assert "bees" in first
    second = pick_question("How do bees see colours?", pool, "n", 0, asked=[first])
    assert "bees" in second and second != first
    with pytest.raises(ValueError, match="empty"):
        QuestionPool.of(["", "  "])


def test_pool_metrics_from_labels_and_gold():
    from datagen_plugins.simulated.evaluate import agreement_metrics

    gold = {"a": 1, "b": 2, "c": 1}
    labels = {"x": {"a": 1, "b": 2, "c": 2}, "y": {"a": 1, "b": 1, "c": 2},
              "z": {"a": 2, "b": 2}}
    order = ["x", "y", "z"]
    metrics = agreement_metrics(labels, gold, seed=0, order=order)
    routed = {pid: labels[order[route(pid, 0, 3)]].get(pid) for pid in gold}
    expected = [routed[p] == gold[p] for p in gold if routed[p] is not None]
    assert metrics["pool_routed_agreement"] == pytest.approx(sum(expected) / len(expected))
    # majority: a -> 1 (right), b -> 2 (right), c -> x and y say 2 (wrong)
    assert metrics["pool_majority_agreement"] == pytest.approx(2 / 3)
    assert metrics["mean_annotator_agreement"] == pytest.approx((2 / 3 + 1 / 3 + 1 / 2) / 3)
    assert metrics["pairs"] == 3 and metrics["annotators"] == 3
    assert metrics["paper"] == {"pool_agreement_with_humans": 0.65, "human_agreement": 0.66}


def test_gold_labels_accept_numbers_and_names_and_reject_others():
    from datagen.errors import InvalidInput
    from datagen_plugins.simulated.evaluate import gold_labels

    rows = [{"id": "a", "instruction": "i", "output_1": "x", "output_2": "y", "preference": 2},
            {"id": "b", "instruction": "i", "output_1": "x", "output_2": "z",
             "preference": "output_1"},
            {"id": "c", "instruction": "i", "output_1": "x", "output_2": "", "preference": 1}]
    assert gold_labels(rows, PrefsOptions(), "preference") == {"a": 2, "b": 1}
    with pytest.raises(InvalidInput, match="pair 'a': preference is 'tie'"):
        gold_labels([{**rows[0], "preference": "tie"}], PrefsOptions(), "preference")
    with pytest.raises(InvalidInput, match="no column 'label'"):
        gold_labels(rows, PrefsOptions(), "label")
