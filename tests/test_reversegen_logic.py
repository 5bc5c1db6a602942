"""ReverseGen's pure rules on known values: entropy, answers, dedup, diversity, pairs."""

from __future__ import annotations

import math
import random

import pytest

from datagen_plugins.reversegen.logic import (
    Labeled,
    answer_entropy,
    answers_differ,
    bleu,
    build_pairs,
    distinct_n,
    final_answer,
    invalid_reason,
    minhash,
    near_duplicates,
    parse_instruction,
    proposer_shots,
    self_bleu,
    signature_similarity,
)


def test_entropy_of_ten_identical_answers_is_zero():
    assert answer_entropy(["The answer is 12."] * 10) == 0.0


def test_entropy_of_ten_distinct_answers_is_ln_ten():
    assert answer_entropy([f"it is {i}" for i in range(10)]) == pytest.approx(math.log(10))


def test_entropy_on_a_known_split_and_the_paper_threshold():
    # final answers 4 x "5", 2 x "6", 2 x "7", 1 x "8", 1 x "9"
    samples = ["5"] * 4 + ["so 6", "6."] + ["7", "= 7"] + ["8", "answer: 9"]
    expected = -(0.4 * math.log(0.4) + 2 * 0.2 * math.log(0.2) + 2 * 0.1 * math.log(0.1))
    assert answer_entropy(samples) == pytest.approx(expected)
    assert answer_entropy(samples) >= 1.193
    # 7 agree, 3 differ: 0.94 nats, below the threshold (the target is "sure")
    assert answer_entropy(["1"] * 7 + ["2", "3", "4"]) == pytest.approx(0.9404479886553263)


def test_final_answers_compare_numbers_and_words():
    assert final_answer("17 x 23 = 391, so the answer is 391.") == "391"
    assert final_answer("Total: 1,250 dollars") == "1250"
    assert final_answer("It is 12.0") == "12"
    assert final_answer("Canberra, of course!") == "canberra of course"
    assert not answers_differ("so it is 391", "Answer: 391")
    assert answers_differ("so it is 390", "Answer: 391")


def test_instructions_are_parsed_from_the_first_line_without_numbering():
    assert parse_instruction("4. What is 2+2?\n5. more", 100) == "What is 2+2?"
    assert parse_instruction("\n  - \"Name a river.\"", 100) == "Name a river."
    assert parse_instruction("   \n", 100) == ""
    assert parse_instruction("x" * 50, 10) == "x" * 10


def test_validity_check_names_the_reason():
    seeds = ["What is 2 plus 2?"]
    assert invalid_reason("", seeds, 3) == "empty instruction"
    assert invalid_reason("Why?", seeds, 3) == "fewer than 3 words"
    assert invalid_reason("what is 2 plus 2", seeds, 3) == "copies a seed instruction"
    assert invalid_reason("What is 3 plus 5?", seeds, 3) == ""


def test_minhash_finds_near_duplicates_and_keeps_the_first():
    texts = [
        "How many minutes are there in three and a half hours?",
        "How many minutes are there in three and a half hours today?",
        "Name the largest desert in Africa.",
        "how many minutes are there in three and a half hours",
    ]
    signatures = [minhash(t) for t in texts]
    assert signature_similarity(signatures[0], signatures[3]) == 1.0
    assert signature_similarity(signatures[0], signatures[2]) < 0.2
    assert near_duplicates(signatures, 0.8, signature_similarity) == [None, 0, None, 0]


def test_minhash_is_deterministic():
    assert minhash("one two three four") == minhash("One, two, three, four!")


def test_bleu_and_self_bleu_on_known_values():
    words = ["the", "cat", "sat", "on", "the", "mat"]
    assert bleu(words, [words]) == pytest.approx(1.0)
    assert self_bleu(["a b c d", "a b c d"]) == pytest.approx(1.0)
    assert self_bleu(["only one"]) == 0.0
    same = self_bleu(["the cat sat on the mat", "the cat sat on the rug"])
    apart = self_bleu(["the cat sat on the mat", "seven ships left port at dawn"])
    assert apart < same


def test_distinct_n():
    assert distinct_n(["a b a b"], 1) == 0.5
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n([], 2) == 0.0


def test_pairs_match_failures_with_passes_under_the_same_prompt():
    items = [
        Labeled("a1", "p1", "P1", "fail a", True),
        Labeled("a2", "p1", "P1", "pass a", False),
        Labeled("a3", "p1", "P1", "fail b", True),
        Labeled("b1", "p2", "P2", "fail only", True),
        Labeled("c1", "p3", "P3", "pass c", False),
        Labeled("c2", "p3", "P3", "fail c", True),
        Labeled("c3", "p3", "P3", "pass d", False),
    ]
    pairs = build_pairs(items, per_prompt=4)
    assert [(c.id, r.id) for c, r in pairs] == [("a1", "a2"), ("c2", "c1")]
    assert all(c.prompt == r.prompt and c.failed and not r.failed for c, r in pairs)
    assert build_pairs(items, per_prompt=0) == []


def test_shots_are_distinct_seeds_and_reproducible():
    pool = [f"s{i}" for i in range(10)]
    first = proposer_shots(pool, 3, random.Random("0:1"))
    assert len(set(first)) == 3
    assert first == proposer_shots(pool, 3, random.Random("0:1"))
    assert proposer_shots(["only"], 3, random.Random(0)) == ["only"]
