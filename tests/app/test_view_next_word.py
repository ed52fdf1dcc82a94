"""Next word view: the probabilities shown are the model's own, per model, with unknown words marked."""
from __future__ import annotations

import math
import os

import torch

from app_helpers import captions, SEED, assert_every_chart_captioned, chart_titled, exception_free, html_blocks, open_app
from model.analysis.inputs import prepare_input
from model.checkpoint import load_checkpoint


def _model_probabilities(folder: str, text: str) -> tuple[list[str], torch.Tensor]:
    checkpoint = load_checkpoint(folder)
    prepared = prepare_input(checkpoint.tokenizer, text)
    with torch.no_grad():
        logits, _ = checkpoint.model(prepared.ids)  # [1, T + 1, V]
    return prepared.tokens, torch.log_softmax(logits[0], dim=-1).exp()  # [T + 1, V]


def test_strip_and_top_words_match_the_model(app_models):
    at = exception_free(open_app("Next word"))
    assert assert_every_chart_captioned(at) == 4
    strip = chart_titled(at, "Probability each model gave")["data"]
    assert set(strip["model"]) == {"tiny-rnn", "tiny-lstm", "tiny-gru"}
    tokens, probs = _model_probabilities(os.path.join(app_models, "tiny-lstm"), SEED)
    checkpoint = load_checkpoint(os.path.join(app_models, "tiny-lstm"))
    lstm = strip[strip["model"] == "tiny-lstm"].reset_index(drop=True)
    assert len(lstm) == len(tokens) == 16
    for index, token in enumerate(tokens):
        expected = float(probs[index, checkpoint.tokenizer.token_to_id(token) or checkpoint.tokenizer.unk_id])
        assert math.isclose(lstm.loc[index, "probability"], expected, rel_tol=1e-4, abs_tol=1e-7), token
        # The number printed in the cell: two decimals, or one significant digit when that would read 0.00.
        label = lstm.loc[index, "label"]
        assert label == (f"{expected:.2f}" if expected >= 0.005 else f"{expected:.0e}") and label != "0.00", (token, label)
    # The top-10 chart after the whole sentence: the model's ten most probable words, best first.
    top = chart_titled(at, "tiny-lstm: top 10")["data"]
    values, indices = probs[-1].topk(10)
    assert list(top["word"]) == [checkpoint.tokenizer.id_to_token(int(i)) for i in indices]
    assert all(math.isclose(a, float(b), rel_tol=1e-4) for a, b in zip(top["prob"], values))
    shown = captions(at)
    assert "Baseline" in shown and "1 / vocabulary size" in shown


def test_cell_labels_never_round_a_small_probability_to_zero():
    from ui.view_next_word import cell_label

    assert [cell_label(p) for p in (0.734, 0.005, 0.0049, 3.2e-7, None)] == ["0.73", "0.01", "5e-03", "3e-07", "?"]


def test_picking_a_position_shows_the_top_words_there(app_models):
    at = open_app("Next word")
    slider = at.select_slider(key="next_word_position")
    slider.set_value(slider.options[3]).run()  # after word 3, "Robert"
    exception_free(at)
    tokens, probs = _model_probabilities(os.path.join(app_models, "tiny-gru"), SEED)
    top = chart_titled(at, "tiny-gru: top 10")["data"]
    assert math.isclose(top["prob"].iloc[0], float(probs[3].max()), rel_tol=1e-4)
    assert "after 3 “Robert”" in captions(at)


def test_unknown_words_are_marked(app_models):
    at = exception_free(open_app("Next word", text="Mr. Robert flabbergasted his wife ."))
    notes = captions(at)
    assert "unknown words" in notes and "flabbergasted" in notes
    assert notes.count("unknown words, read as <unk>") == 1  # one notice for the models sharing a vocabulary
    assert all(f"tiny-{arch}" in notes for arch in ("rnn", "lstm", "gru"))
    spans = " ".join(html_blocks(at))
    assert "line-through" in spans and "flabbergasted" in spans
    strip = chart_titled(at, "Probability each model gave")["data"]
    assert strip[strip["word"].str.contains("flabbergasted")]["unknown"].all()
