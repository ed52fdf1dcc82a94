"""Failure 5 (AppTest part): text from files and users reached Markdown-rendering elements unescaped.

st.table renders its cells as Markdown, so metrics.json's corpus and status drew an image from any
URL (tests/browser/test_no_image_fetch.py proves in Chromium that nothing is fetched now); the
ladder put folder names into an st.metric label; an uploaded file's name became the corpus name.
"""

from __future__ import annotations

import os
import re

from robustness_helpers import assert_page_survived, copy_checkpoint, edit_json, open_app

from ui.services.uploaded_corpus import MAX_NAME_CHARACTERS, corpus_from_upload, display_name
from ui.widgets.markup import md

IMAGE = "![t](http://127.0.0.1:9/x.png)"
LINK = "[click](javascript:alert(1))"


def bare(text: str, characters: str = "[]!*<") -> list[str]:
    """The Markdown-active characters of ``text`` that are not backslash-escaped."""
    return re.findall(r"(?<!\\)[" + re.escape(characters) + "]", text)


def test_metrics_text_in_the_model_card_is_escaped(models_root):
    folder = os.path.join(models_root, "tiny-lstm")
    edit_json(
        folder,
        "metrics.json",
        lambda metrics: metrics.update(
            corpus=IMAGE,
            status=f"**done** {LINK}",
            storage_dtype="<img src=x onerror=alert(1)>",
            train_config=dict(metrics["train_config"], clip=IMAGE),
        ),
    )
    at = open_app("Models", models=["tiny-lstm"])
    assert_page_survived(at)
    card = at.table[0].value["value"]
    assert card["Corpus"] == md(IMAGE) and not bare(card["Corpus"])
    assert card["Status"] == md(f"**done** {LINK}") and not bare(card["Status"])
    assert not bare(card["Stored as"]) and not bare(card["Gradient clipping"])


def test_a_folder_name_in_the_ladder_label_is_escaped(models_root):
    name = LINK  # no "/" in it, so it is a valid folder name
    copy_checkpoint(os.path.join(models_root, "tiny-lstm"), os.path.join(models_root, name))
    at = open_app("Distance ladder", models=[name])
    assert_page_survived(at)
    labels = [metric.label for metric in at.metric]
    assert labels and all(not bare(label) for label in labels)
    assert any(md(name) in label for label in labels)


def test_an_uploaded_file_name_is_one_short_line():
    prose = ("Mr. Robert said so his friend came to tea and the weather was fine that day. " * 40).encode()
    corpus = corpus_from_upload(prose, "evil\u202e\n" + "![t](x.png)" * 20 + ".txt")
    assert (
        corpus.name.startswith("uploaded: evil ![t](x.png)") and "\n" not in corpus.name and "\u202e" not in corpus.name
    )
    assert len(display_name("a" * 500 + ".txt")) == MAX_NAME_CHARACTERS
    assert display_name("C:\\Users\\me\\notes.txt") == "notes.txt"
