"""The small pure helpers behind the views: text checks, escaping, the calculator, corpora."""

from __future__ import annotations

import math

import pytest

from data.builtin_corpus import builtin_corpus, builtin_paragraphs
from data.tokenizer import WordTokenizer
from ui.services.text_checks import check_text
from ui.services.uploaded_corpus import corpus_from_upload
from ui.widgets.chain_rule import parse_slopes, running_products
from ui.widgets.markup import md, word_spans


@pytest.fixture(scope="module")
def tokenizer() -> WordTokenizer:
    return WordTokenizer.train(["Mr. Robert is going on a vacation with his wife ."], min_frequency=1)


def test_check_text(tokenizer):
    assert check_text("", tokenizer).problem.startswith("The text is empty")
    assert "only punctuation" in check_text("?! ...", tokenizer).problem
    checked = check_text("Rob\u200bert \u202ehis", tokenizer)
    assert checked.ok and checked.text == "Robert his" and "Removed 2 invisible" in checked.notices[0]
    long = check_text("word " * 100, tokenizer, max_words=10)
    assert long.num_words == 10 and long.text == " ".join(["word"] * 10) and "first 10" in long.notices[0]


def test_markdown_and_html_escaping():
    assert md("[link](javascript:x) $x$ *b*") == "\\[link\\](javascript\\:x) \\$x\\$ \\*b\\*"
    assert md("- item") == "\\- item" and md("12. item") == "12\\. item"
    html = word_spans(["<script>", "ok"], [1.0, None], unknown=[True, False], target_index=1)
    assert "<script>" not in html and "&lt;script&gt;" in html and "line-through" in html and "border-bottom" in html


def test_running_product_of_slopes():
    rows = running_products(parse_slopes("0.1 0.1, 0.1;0.1 × 0.1, 0.1, 0.1, 0.1, 0.1"))
    assert math.isclose(rows[-1]["product"], 1e-9, rel_tol=1e-9)
    assert running_products([1e-200, 1e-200])[-1]["product"] is None  # underflow is not drawn as a wrong 0
    assert running_products([0.5, 0.0, 2.0])[-1]["product"] == 0.0
    assert math.isclose(running_products([-0.5, 0.5])[-1]["product"], -0.25)
    with pytest.raises(ValueError, match="not a number"):
        parse_slopes("0.5, x")
    with pytest.raises(ValueError, match="at least one"):
        parse_slopes(" , ")


def test_builtin_corpus_is_patterned_and_deterministic():
    assert builtin_paragraphs(50, seed=3) == builtin_paragraphs(50, seed=3)
    corpus = builtin_corpus(train=200, valid=20, test=20)
    assert set(corpus.splits) == {"train", "valid", "test"} and len(corpus.splits["train"]) == 200
    pronoun = [p for p in corpus.splits["train"] if p.startswith("Mr. ")]
    assert pronoun and all(" his " in p for p in pronoun)


def test_uploads_are_checked():
    text = "\n\n".join(f"Paragraph {i} tells of Mr. Robert and his long trip to the sea ." for i in range(40)).encode()
    corpus = corpus_from_upload(text, "story.txt")
    assert len(corpus.splits["train"]) == 36 and len(corpus.splits["valid"]) == 4
    with pytest.raises(ValueError, match="binary"):
        corpus_from_upload(b"\x00\x01" * 500, "x.txt")
    with pytest.raises(ValueError, match="not UTF-8"):
        corpus_from_upload("café ".encode("latin-1") * 300, "x.txt")
    with pytest.raises(ValueError, match="only 3 words"):
        corpus_from_upload(b"three short words", "x.txt")
    with pytest.raises(ValueError, match="is empty"):
        corpus_from_upload(b"", "x.txt")


def test_every_chart_function_refuses_a_missing_caption():
    import altair as alt
    import pandas as pd

    from ui.widgets.charts import show_chart, show_spec

    frame = pd.DataFrame({"x": [1, 2], "y": [3, 4]})
    for caption in ("", "   "):
        with pytest.raises(ValueError, match="needs a caption"):
            show_chart(alt.Chart(frame).mark_line().encode(x="x:Q", y="y:Q"), caption)
        with pytest.raises(ValueError, match="needs a caption"):
            show_spec({"mark": "line", "encoding": {"x": {"field": "x", "type": "quantitative"}}}, frame, caption)
