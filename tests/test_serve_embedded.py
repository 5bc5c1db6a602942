"""``datagen serve`` over a real build: the embedded model (llama.cpp + SmolLM2) critiques
one seed row, then the row page must show that row's trail through the build's real step
tables and highlight exactly the sentences its units cite."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from serve_fixtures import base_url, running_app

from datagen.build import run_build
from datagen.catalog import Catalog

pytestmark = [pytest.mark.embedded, pytest.mark.slow]

QUICK = {
    "agents": 2, "max_primary": 2, "max_fine_grained": 2, "max_units_per_agent": 2,
    "max_tokens": {"task_description": 48, "criteria": 256, "reference": 96, "critique": 192,
                   "meta_label": 32, "aggregate": 160, "revision": 96},
}


def test_row_page_of_a_real_build(datagen_home: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the embedded extra) is missing")
    run_build("critique-sft", limit=1, quiet=True, options=QUICK)
    with Catalog.open(datagen_home) as catalog:
        rows = catalog.sql('SELECT id, input_id, units FROM "critique-sft"').to_pylist()
        steps = catalog.steps("critique-sft")
        step_rows = {s: catalog.sql(f'SELECT count(*) AS n FROM "critique-sft/{s}" '
                                    f"WHERE input_id = '{rows[0]['input_id']}'").to_pylist()
                     for s in steps} if rows else {}
    assert rows, "the build wrote no row for the seed input (see its failures)"
    row = rows[0]
    with running_app(datagen_home) as app, httpx.Client(base_url=base_url(app)) as http:
        page = http.get(f"/d/critique-sft/1/row/{row['id']}")
        assert page.status_code == 200
        html = page.text
    cited = {tag for unit in row["units"] for tag in unit["tags"]}
    highlighted = set(re.findall(r'class="sentence cited" id="sentence-(S\d+)"', html))
    assert highlighted == cited
    for step in steps:
        count = step_rows[step][0]["n"]
        if count:
            assert f">{step}</a> · {count} rows</summary>" in html, step
    assert {"crucial_info", "critique_units", "meta_labels"} <= set(steps)
