"""Pure pieces of the web app: escaping, citations, conversations, MinHash, quoting."""

from __future__ import annotations

import pytest

from datagen_plugins.serve import minhash
from datagen_plugins.serve.html import Markup, folded, tag, url
from datagen_plugins.serve.queries import quote_ident, quote_table
from datagen_plugins.serve.rowview import cited_tags, cited_text, render_row, tagged_response


def test_text_and_attributes_are_escaped() -> None:
    html = tag("a", '<b>"x"</b>', href='/x" onclick="alert(1)', title="<t>")
    assert html == ('<a href="/x&quot; onclick=&quot;alert(1)" title="&lt;t&gt;">'
                    "&lt;b&gt;&quot;x&quot;&lt;/b&gt;</a>")
    assert tag("div", Markup("<i>safe</i>"), "<i>") == "<div><i>safe</i>&lt;i&gt;</div>"
    assert tag("input", value="a", disabled=True, hidden=None) == '<input value="a" disabled>'


def test_urls_encode_each_segment() -> None:
    assert url("d", "x y", 1, "row", "a/b?c") == "/d/x%20y/1/row/a%2Fb%3Fc"
    assert url("sql", q="SELECT 1", empty="") == "/sql?q=SELECT+1"


def test_long_text_is_folded() -> None:
    assert "<details" not in folded("short")
    long = folded("x" * 2000)
    assert long.startswith('<details class="fold">') and "(2000 characters)" in long


def test_citations_are_marked_and_tagged_sentences_highlighted() -> None:
    assert cited_text("see [S2] & [S10]<") == (
        '<span>see <mark class="cite" data-tag="S2">[S2]</mark> &amp; '
        '<mark class="cite" data-tag="S10">[S10]</mark>&lt;</span>')
    row = {"units": [{"tags": ["S1"]}], "critique": "[S3] is off", "tagged_response": "a [S1]"}
    assert cited_tags(row) == {"S1", "S3"}
    html = tagged_response("One. [S1]\nTwo. [S2]\nno tag", {"S2"})
    assert 'class="sentence cited" id="sentence-S2"' in html
    assert 'class="sentence" id="sentence-S1"' in html and ">no tag</div>" in html


def test_row_shapes() -> None:
    row = {"id": "1", "prompt": [{"role": "user", "content": "<q>"}],
           "chosen": [{"role": "assistant", "content": "good"}], "rejected": "bad",
           "meta": {"k": [1, 2]}}
    html = render_row(row)
    assert html.index("prompt") < html.index('class="pair"')
    assert 'class="turn role-user"' in html and "&lt;q&gt;" in html
    assert 'class="side rejected"' in html and "&quot;k&quot;" in html


def test_quoting_identifiers() -> None:
    assert quote_ident('a"b') == '"a""b"'
    assert quote_table("v_1") == 'lake.main."v_1"'


def test_minhash_finds_near_duplicates_only() -> None:
    text = "the quick brown fox jumps over the lazy dog near the river bank today"
    texts = [text, text.replace("today", "again"), "completely unrelated words about "
             "parquet files and catalogs and snapshots", text]
    assert minhash.unique_mask(texts, threshold=0.7) == [True, False, True, False]
    assert minhash.unique_mask(texts, threshold=1.0) == [True, True, True, False]
    a, b = minhash._permutations()
    same = minhash.similarity(minhash.signature(text, a, b), minhash.signature(text, a, b))
    assert same == 1.0
    with pytest.raises(ValueError):
        minhash.unique_mask(texts, threshold=0)


def test_a_response_without_tags_is_tagged_when_critiques_cite_it() -> None:
    row = {"id": "p", "response": "First claim. Second claim. Third claim.",
           "task_type": "qa", "chosen": "[S2] is wrong.", "rejected": "Fine."}
    html = render_row(row)
    assert 'class="sentence cited" id="sentence-S2"' in html
    assert 'class="sentence" id="sentence-S1"' in html and "Third claim." in html
