"""Does a critique find the error? Pure metrics over judged items, with baselines and intervals.

An item is what the critic said about one labelled response: ``errors`` (planted, 0-2),
``error_tags`` (the tagged sentences holding them), ``score`` (the critique's 1-10 score, or
None when it could not be read), ``cited_tags`` and ``parse_valid``.

- detection: a response counts as flagged when its score is below the threshold (7 of 10,
  as in CriticBench); an unreadable critique flags nothing. F1, precision and recall of
  "flawed" (errors > 0).
- localisation: among flawed items, the share where some cited tag is an error's sentence.
- rank correlation: Spearman's rho between the score and the number of errors, over the
  readable critiques; a good critic is near -1.
- parse-valid rate: the share of critiques whose score could be read.

Each figure has a majority-class baseline (flag every item as the majority label; cite the
most common error sentence; a constant score, so rho 0) and a bootstrap 95% interval.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

Item = dict[str, Any]
Metric = Callable[[Sequence[Item], float], float | None]


def flagged(item: Item, threshold: float) -> bool:
    return item["score"] is not None and item["score"] < threshold


def _confusion(items: Sequence[Item], predict: Callable[[Item], bool]) -> tuple[int, int, int]:
    tp = sum(1 for i in items if predict(i) and i["errors"] > 0)
    fp = sum(1 for i in items if predict(i) and i["errors"] == 0)
    fn = sum(1 for i in items if not predict(i) and i["errors"] > 0)
    return tp, fp, fn


def precision(items: Sequence[Item], threshold: float) -> float | None:
    tp, fp, _ = _confusion(items, lambda i: flagged(i, threshold))
    return tp / (tp + fp) if tp + fp else None


def recall(items: Sequence[Item], threshold: float) -> float | None:
    tp, _, fn = _confusion(items, lambda i: flagged(i, threshold))
    return tp / (tp + fn) if tp + fn else None


def f1(items: Sequence[Item], threshold: float) -> float | None:
    return _f1(*_confusion(items, lambda i: flagged(i, threshold)))


def _f1(tp: int, fp: int, fn: int) -> float | None:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None


def localisation(items: Sequence[Item], threshold: float = 0) -> float | None:
    flawed = [i for i in items if i["errors"] > 0]
    if not flawed:
        return None
    return sum(1 for i in flawed if set(i["cited_tags"]) & set(i["error_tags"])) / len(flawed)


def spearman(items: Sequence[Item], threshold: float = 0) -> float | None:
    readable = [i for i in items if i["score"] is not None]
    return rank_correlation([i["score"] for i in readable], [i["errors"] for i in readable])


def parse_valid(items: Sequence[Item], threshold: float = 0) -> float | None:
    return sum(1 for i in items if i["parse_valid"]) / len(items) if items else None


METRICS: dict[str, Metric] = {
    "f1": f1,
    "precision": precision,
    "recall": recall,
    "localisation": localisation,
    "spearman": spearman,
    "parse_valid": parse_valid,
}


# -- baselines -----------------------------------------------------------------------------


def baselines(items: Sequence[Item]) -> dict[str, float | None]:
    """What a critic that ignores the response scores on these items."""
    flag_all = Counter(i["errors"] > 0 for i in items).most_common(1)[0][0] if items else False
    confusion = _confusion(items, lambda i: flag_all)
    tp, fp, fn = confusion
    return {
        "f1": _f1(*confusion),
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "localisation": _most_common_tag_share(items),
        "spearman": 0.0,
        "parse_valid": None,  # no model answer to parse: no baseline
    }


def _most_common_tag_share(items: Sequence[Item]) -> float | None:
    flawed = [i for i in items if i["errors"] > 0]
    tags = Counter(t for i in flawed for t in i["error_tags"])
    if not tags:
        return None
    tag = tags.most_common(1)[0][0]
    return sum(1 for i in flawed if tag in i["error_tags"]) / len(flawed)


# -- statistics ----------------------------------------------------------------------------


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda k: values[k])
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in order[start : end + 1]:
            result[k] = (start + end) / 2 + 1
        start = end + 1
    return result


def rank_correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rho (Pearson's r of the ranks); None when either side is constant."""
    if len(xs) < 2:
        return None
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    return cov / (vx * vy) ** 0.5 if vx and vy else None


def bootstrap_interval(
    items: Sequence[Item], metric: Metric, threshold: float, resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """The 2.5th and 97.5th percentiles of ``metric`` over resamples of the items."""
    rng = random.Random(seed)
    values = []
    for _ in range(resamples):
        sample = [items[rng.randrange(len(items))] for _ in items]
        value = metric(sample, threshold)
        if value is not None:
            values.append(value)
    if not values:
        return None
    values.sort()
    return values[int(0.025 * (len(values) - 1))], values[int(0.975 * (len(values) - 1))]


def summarize(
    items: Sequence[Item], threshold: float = 7, resamples: int = 1000, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Every metric with its value, bootstrap interval and majority-class baseline."""
    base = baselines(items)
    return {
        name: {
            "value": metric(items, threshold),
            "interval": bootstrap_interval(items, metric, threshold, resamples, seed),
            "baseline": base[name],
        }
        for name, metric in METRICS.items()
    }
