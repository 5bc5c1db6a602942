"""Every endpoint of ``datagen serve`` over real HTTP on 127.0.0.1, with a real catalog:
pages, JSON API, downloads, review writes, and the safety checks (CSRF, Host, token,
escaping, names and filters from URLs)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from serve_fixtures import SCRIPT_TEXT, base_url, populate, running_app

from datagen.catalog import Catalog


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory):
    """One catalog and app for the tests that only read."""
    home = tmp_path_factory.mktemp("serve-read") / "home"
    populate(home)
    with running_app(home, reviewer="ann") as running:
        running.home = home
        yield running


@pytest.fixture
def reader(shared) -> httpx.Client:
    with httpx.Client(base_url=base_url(shared), timeout=30) as http:
        yield http


@pytest.fixture
def app(datagen_home: Path):
    populate(datagen_home)
    with running_app(datagen_home, reviewer="ann") as running:
        yield running


@pytest.fixture
def client(app) -> httpx.Client:
    with httpx.Client(base_url=base_url(app), timeout=30) as http:
        yield http


def post(client: httpx.Client, app, path: str, data: dict) -> httpx.Response:
    return client.post(path, json=data, headers={"X-CSRF-Token": app.csrf})


@pytest.mark.parametrize(("path", "expected"), [
    ("/", ["critique-sft", "critique-pref"]),
    ("/d/critique-sft", ["Compare versions", "multicritique"]),
    ("/d/critique-sft/1", ["Lineage", "Schema", "critique_units", "meta_labels",
                           "failures (1)", "rows 1-12 of 12", "row-011"]),
    ("/d/critique-sft/1?limit=5&offset=5", ["rows 6-10 of 12", "row-005", "row-009"]),
    ("/d/critique-sft/1?q=1+%2B+2+%2B+7", ["rows 1-1 of 1", "row-007"]),
    ("/d/critique-sft/1?fc=score&fo=ge&fv=60", ["rows 1-2 of 2", "row-010", "row-011",
                                                "score ge 60", 'id="clear-filters"']),
    ("/d/critique-sft/1?fc=query&fo=contains&fv=%3Cscript", ["rows 1-1 of 1", "row-002"]),
    ("/d/critique-sft/1/row/row-001", ["row 2 of 12", "invalid JSON after 3 attempts",
                                       "agent 1 on input 1", "sentence-S3"]),
    ("/d/critique-pref/1/row/pair-001", ["side chosen", "side rejected", "Looks fine to me."]),
    ("/d/critique-sft/1/step/critique_units", ["rows 1-24 of 24", "cu-0-0"]),
    ("/d/critique-sft/1/step/critique_units?fc=agent&fo=eq&fv=1", ["rows 1-12 of 12"]),
    ("/builds", ["critique-sft@1", "critique-pref@1", "multicritique"]),
    ("/failures", ["invalid JSON after 3 attempts", "{not json"]),
    ("/failures?dataset=critique-pref", ["no rows"]),
    ("/diff?a=critique-sft@1&b=critique-sft@1", ["unchanged"]),
    ("/sql?q=SELECT+count(*)+AS+n+FROM+%22critique-sft%2Fcritique_units%22", ["24", "1 rows"]),
])
def test_pages_render(reader: httpx.Client, path: str, expected: list[str]) -> None:
    response = reader.get(path)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    for text in expected:
        assert text in response.text, text


def test_static_files_and_favicon(reader: httpx.Client) -> None:
    client = reader
    assert "saveReview" in client.get("/static/app.js").text
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/..%2Fapp.py").status_code == 404
    assert client.get("/static/missing.js").status_code == 404
    assert client.get("/favicon.ico").status_code == 204


def test_rendered_values_are_escaped(reader: httpx.Client) -> None:
    client = reader
    for path in ("/d/critique-sft/1/row/row-002", "/d/critique-sft/1?q=script"):
        page = client.get(path).text
        assert SCRIPT_TEXT not in page
        assert "&lt;script&gt;window.__pwned" in page
        assert page.count("<script") == 1  # only the app's own file


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/d/Bad%20Name", 400, "invalid dataset name"),
    ("/d/builds/1", 400, "reserved for a system table"),
    ("/d/critique-sft/0", 400, "versions start at 1"),
    ("/d/critique-sft/x", 400, "invalid version"),
    ("/d/critique-sft/7", 404, "unknown version"),
    ("/d/nothing/1", 404, "unknown dataset"),
    ("/d/critique-sft/1/row/row-999", 404, "unknown row"),
    ("/d/critique-sft/1/step/..%2Fx", 400, "invalid step name"),
    ("/d/critique-sft/1/step/nope", 404, "unknown step"),
    ("/d/critique-sft/1?fc=id%22+OR+1%3D1+--&fo=eq&fv=x", 400, "unknown column"),
    ("/d/critique-sft/1?fc=id&fo=like&fv=x", 400, "unknown filter operator"),
    ("/d/critique-sft/1?limit=100000", 400, "invalid limit"),
    ("/d/critique-sft/1?offset=-1", 400, "invalid offset"),
    ("/failures?build_id=x'--", 400, "invalid build_id"),
    ("/diff?a=critique-sft@1", 400, "diff needs two versions"),
    ("/nowhere", 404, "unknown page"),
])
def test_bad_urls_get_one_clear_error(reader, path: str, status: int, message: str) -> None:
    response = reader.get(path)
    assert response.status_code == status
    assert message in response.text


def test_quotes_in_search_and_filters_are_data(reader: httpx.Client) -> None:
    client = reader
    page = client.get("/d/critique-sft/1", params={"q": "x' OR '1'='1"})
    assert page.status_code == 200 and "no rows" in page.text
    page = client.get("/d/critique-sft/1", params={"fc": "score", "fo": "eq", "fv": "1; DROP"})
    assert page.status_code == 200 and "no rows" in page.text


def test_sql_box_is_read_only(reader: httpx.Client, shared) -> None:
    client = reader
    for query in ("DELETE FROM builds", "CREATE TABLE x AS SELECT 1",
                  "SELECT 1; DROP TABLE builds", "ATTACH ':memory:' AS other"):
        response = client.get("/sql", params={"q": query})
        assert response.status_code == 400
        assert "not allowed" in response.text
    with Catalog.open(shared.home) as catalog:
        assert catalog.sql("SELECT count(*) AS n FROM builds").to_pylist() == [{"n": 2}]


def test_sql_downloads(reader: httpx.Client) -> None:
    client = reader
    query = 'SELECT id, score FROM "critique-sft" ORDER BY id LIMIT 3'
    csv_text = client.get("/sql/download", params={"q": query, "format": "csv"}).text
    assert csv_text.splitlines() == ["id,score", "row-000,50", "row-001,51", "row-002,52"]
    lines = client.get("/sql/download", params={"q": query, "format": "jsonl"}).text
    assert [json.loads(x) for x in lines.splitlines()][2] == {"id": "row-002", "score": 52}
    data = client.get("/sql/download", params={"q": query, "format": "parquet"}).content
    assert pq.read_table(io.BytesIO(data)).column("score").to_pylist() == [50, 51, 52]
    bad = client.get("/sql/download", params={"q": query, "format": "xlsx"})
    assert bad.status_code == 400 and "unknown format" in bad.text
    refused = client.get("/sql/download", params={"q": "DROP TABLE builds", "format": "csv"})
    assert refused.status_code == 400 and "not allowed" in refused.text


def test_json_api(reader: httpx.Client) -> None:
    client = reader
    names = [d["name"] for d in client.get("/api/datasets").json()]
    assert names == ["critique-pref", "critique-sft"]
    page = client.get("/api/d/critique-sft/1/rows", params={"offset": 10, "limit": 5}).json()
    assert page["total"] == 12 and [r["id"] for r in page["rows"]] == ["row-010", "row-011"]
    row = client.get("/api/d/critique-sft/1/row/row-002").json()
    assert row["row"]["query"] == SCRIPT_TEXT and row["review"] is None
    reviews = client.get("/api/d/critique-sft/1/reviews").json()
    assert reviews["progress"]["reviewed"] == 0 and reviews["reviews"] == []
    assert client.get("/api/d/critique-sft/1/nope").status_code == 404


def test_review_writes_and_commit(client: httpx.Client, app, datagen_home: Path) -> None:
    saved = post(client, app, "/api/d/critique-sft/1/review",
                 {"row_id": "row-001", "decision": "reject", "reviewer": "ann",
                  "label": "wrong-math", "note": "the sum is off"})
    assert saved.status_code == 200, saved.text
    assert saved.json()["progress"]["rejected"] == 1
    edited = post(client, app, "/api/d/critique-sft/1/review",
                  {"row_id": "row-002", "decision": "accept", "reviewer": "ann",
                   "edits": {"query": "What is 1 + 2 + 2?"}})
    assert edited.json()["review"]["edits"] == {"query": "What is 1 + 2 + 2?"}
    review = client.get("/api/d/critique-sft/1/row/row-001").json()["review"]
    assert (review["decision"], review["label"], review["reviewer"]) == ("reject",
                                                                        "wrong-math", "ann")
    assert "badge reject" in client.get("/d/critique-sft/1").text
    committed = post(client, app, "/api/d/critique-sft/1/commit-review", {})
    assert committed.json() == {"dataset": "critique-sft", "version": 2, "ref": "critique-sft@2",
                                "parent": "critique-sft@1", "rows_in": 12, "rows_out": 11,
                                "url": "/d/critique-sft/2"}
    version = client.get("/d/critique-sft/2").text
    assert "critique-sft@1" in version and "apply-review" in version
    trail = client.get("/d/critique-sft/2/row/row-003").text  # steps of the parent
    assert "from critique-sft@1, which this version was curated from" in trail
    assert "agent 1 on input 3" in trail


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"row_id": "row-001", "decision": "maybe", "reviewer": "ann"}, 400, "invalid review"),
    ({"row_id": "row-001", "edits": {"score": "1"}, "reviewer": "ann"}, 400, "cannot edit"),
    ({"row_id": "nope", "decision": "accept", "reviewer": "ann"}, 404, "unknown row"),
    ({"row_id": "row-001", "decision": "accept", "reviewer": "a\nb"}, 400, "invalid reviewer"),
])
def test_bad_review_writes(client, app, body: dict, status: int, message: str) -> None:
    response = post(client, app, "/api/d/critique-sft/1/review", body)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_writes_need_csrf_token_and_json(client: httpx.Client, app) -> None:
    body = {"row_id": "row-001", "decision": "accept", "reviewer": "ann"}
    assert client.post("/api/d/critique-sft/1/review", json=body).status_code == 403
    wrong = client.post("/api/d/critique-sft/1/review", json=body,
                        headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    form = client.post("/api/d/critique-sft/1/review", data=body,
                       headers={"X-CSRF-Token": app.csrf})
    assert form.status_code == 415
    assert client.post("/api/d/critique-sft/1/commit-review").status_code == 403
    assert client.get("/api/d/critique-sft/1/reviews").json()["progress"]["reviewed"] == 0


def test_commit_without_reviews_is_refused(client: httpx.Client, app) -> None:
    response = post(client, app, "/api/d/critique-sft/1/commit-review", {})
    assert response.status_code == 400 and "no reviews" in response.json()["error"]


def test_unexpected_host_is_refused(reader: httpx.Client) -> None:
    response = reader.get("/", headers={"Host": "attacker.example:80"})
    assert response.status_code == 400


def test_reviews_survive_a_restart(datagen_home: Path) -> None:
    populate(datagen_home)
    with running_app(datagen_home) as first, httpx.Client(base_url=base_url(first)) as http:
        post(http, first, "/api/d/critique-sft/1/review",
             {"row_id": "row-004", "decision": "reject", "reviewer": "ann", "note": "dup"})
    with running_app(datagen_home) as second, httpx.Client(base_url=base_url(second)) as http:
        review = http.get("/api/d/critique-sft/1/row/row-004").json()["review"]
        assert (review["decision"], review["note"]) == ("reject", "dup")
        assert second.csrf != first.csrf


def test_token_is_required_when_set(datagen_home: Path) -> None:
    populate(datagen_home)
    with running_app(datagen_home, token="s3cret") as app:
        with httpx.Client(base_url=base_url(app)) as http:
            assert http.get("/").status_code == 401
            assert http.get("/", params={"token": "wrong"}).status_code == 401
            first = http.get("/", params={"token": "s3cret"})
            assert first.status_code == 200 and "HttpOnly" in first.headers["set-cookie"]
            assert http.get("/d/critique-sft").status_code == 200  # the cookie now
        bearer = httpx.get(base_url(app) + "/api/datasets",
                           headers={"Authorization": "Bearer s3cret"})
        assert bearer.status_code == 200


def test_other_addresses_get_a_random_token(datagen_home: Path) -> None:
    from datagen_plugins.serve.app import App

    with Catalog.open(datagen_home) as catalog:
        assert App(catalog, host="127.0.0.1").token is None
        exposed = App(catalog, host="0.0.0.0")
        assert exposed.token and len(exposed.token) >= 24


def test_serve_command_prints_its_address_and_stops_on_interrupt(datagen_home: Path) -> None:
    import signal
    import subprocess
    import sys

    populate(datagen_home)
    process = subprocess.Popen(
        [sys.executable, "-m", "datagen", "serve", "--port", "0", "--reviewer", "ann"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = process.stdout.readline()
        assert first.startswith(f"Serving {datagen_home} at http://127.0.0.1:"), first
        address = first.split(" at ")[1].split()[0]
        assert "token" not in first
        assert [d["name"] for d in httpx.get(address + "api/datasets").json()] == [
            "critique-pref", "critique-sft"]
        assert 'value="ann"' in httpx.get(address + "d/critique-sft/1/row/row-001").text
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    assert "Stopped." in out and process.returncode == 0
