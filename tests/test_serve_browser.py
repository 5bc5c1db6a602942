"""``datagen serve`` in a real headless Chromium (the Debian package, driven by
Playwright): browse to a row, review by keyboard, commit the review and read the new
version back through ``datagen sql``; hostile row text stays text; the SQL box is
read-only. With DATAGEN_SCREENSHOTS=DIR set, the main pages are saved there as PNGs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from serve_fixtures import SCRIPT_TEXT, base_url, populate, running_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def site(datagen_home: Path):
    populate(datagen_home)
    with running_app(datagen_home, reviewer="") as app:
        yield base_url(app)


@pytest.fixture
def page(browser, site):
    context = browser.new_context(base_url=site, viewport={"width": 1280, "height": 860})
    tab = context.new_page()
    tab.dialogs = []
    tab.errors = []
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    yield tab
    context.close()


def screenshot(tab, name: str) -> None:
    folder = os.environ.get("DATAGEN_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(Path(folder) / f"{name}.png"))


def datagen_sql(query: str) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "datagen", "sql", query, "--format", "json"],
        capture_output=True, text=True, check=True, env=os.environ.copy(),
    )
    return json.loads(result.stdout)


def test_browse_to_a_row(page) -> None:
    page.goto("/")
    screenshot(page, "datasets")
    page.click("text=critique-sft")
    page.click("table.rows >> text=1")
    assert page.locator("h1").inner_text() == "critique-sft@1"
    screenshot(page, "version")
    page.click("a:text('row-001')")
    assert page.locator("h1").inner_text() == "critique-sft@1 · row row-001"
    turns = page.locator(".conversation .turn")
    assert turns.count() == 2 and "Critique this answer" in turns.nth(0).inner_text()
    assert page.locator(".tagged .sentence.cited").count() == 2  # [S1] and [S3] are cited
    assert page.locator("#sentence-S2.cited").count() == 0
    page.hover("mark.cite[data-tag='S3'] >> nth=0")
    assert "focus" in page.locator("#sentence-S3").get_attribute("class")
    trail = page.locator(".trail")
    assert "critique_units · 2 rows" in trail.inner_text()
    assert "invalid JSON after 3 attempts" in trail.inner_text()
    screenshot(page, "row")
    page.goto("/d/critique-pref/1/row/pair-001")
    assert "it should be 4." in page.locator(".pair .side.chosen").inner_text()
    assert "Looks fine to me." in page.locator(".pair .side.rejected").inner_text()
    screenshot(page, "pair")
    assert page.errors == []


def test_review_by_keyboard_then_commit(page, datagen_home: Path) -> None:
    page.goto("/d/critique-sft/1")
    page.click("#start-review")
    assert page.url.endswith("/row/row-000")
    page.fill("#reviewer", "ann")
    page.locator("body").click(position={"x": 5, "y": 400})
    page.keyboard.press("r")  # reject row-000, move on
    page.wait_for_url("**/row/row-001")
    page.keyboard.press("l")
    page.keyboard.type("needs-check")
    page.keyboard.press("Escape")
    page.keyboard.press("e")
    editor = page.locator("#edits textarea[name='critique']")
    editor.fill("A corrected critique citing [S2].")
    page.keyboard.press("Escape")
    page.keyboard.press("a")  # accept with the label and the edit
    page.wait_for_url("**/row/row-002")
    page.keyboard.press("k")
    page.wait_for_url("**/row/row-001")
    assert page.locator("#review-state").inner_text() == "accept"
    assert page.locator("#label").input_value() == "needs-check"
    page.goto("/d/critique-sft/1")
    assert "reviewed 2" in page.locator("#review-progress").inner_text()
    screenshot(page, "review")
    page.click("#commit-review")
    page.wait_for_url("**/d/critique-sft/2")
    assert "apply-review" in page.locator(".lineage").inner_text()
    assert datagen_sql('SELECT count(*) AS n FROM "critique-sft@2"') == [{"n": 11}]
    assert datagen_sql("SELECT id, critique FROM \"critique-sft\" WHERE id <= 'row-001'") == [
        {"id": "row-001", "critique": "A corrected critique citing [S2]."}]
    reviews = datagen_sql("SELECT record_id, decision, label, reviewer FROM reviews "
                          "ORDER BY record_id")
    assert reviews == [
        {"record_id": "row-000", "decision": "reject", "label": None, "reviewer": "ann"},
        {"record_id": "row-001", "decision": "accept", "label": "needs-check",
         "reviewer": "ann"}]
    assert page.errors == []


def test_script_tags_render_as_text(page) -> None:
    page.goto("/d/critique-sft/1/row/row-002")
    query = page.locator("section.field", has_text="query").first
    assert SCRIPT_TEXT in query.inner_text()
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main script, main img").count() == 0
    page.goto("/d/critique-sft/1?q=pwned")
    assert "row-002" in page.locator("table.rows").inner_text()
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []


def test_sql_box_refuses_a_write(page) -> None:
    page.goto("/sql")
    page.fill("#sql", "DELETE FROM builds")
    page.click("button[type=submit]")
    assert "not allowed" in page.locator("#sql-error").inner_text()
    page.fill("#sql", 'SELECT id, score FROM "critique-sft" WHERE score > 59 ORDER BY id')
    page.locator("#sql").press("Control+Enter")
    page.wait_for_selector("#sql-result")
    assert page.locator("#sql-result tbody tr").count() == 2
    screenshot(page, "sql")
    assert datagen_sql("SELECT count(*) AS n FROM builds") == [{"n": 2}]
