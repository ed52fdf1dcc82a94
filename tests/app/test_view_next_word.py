"""Next word view: the probabilities shown are the model's own, per model, with unknown words marked."""

from __future__ import annotations

import json
import math
import os

import torch
from app_helpers import (
    SEED,
    assert_charts_drawn,
    captions,
    chart_titled,
    exception_free,
    html_blocks,
    open_app,
    plain,
)

from model.analysis.inputs import prepare_input
from model.core.checkpoint import load_checkpoint

MODELS = ["tiny-rnn", "tiny-lstm", "tiny-gru"]  # the app_models fixture, in sidebar order


def _model_probabilities(folder: str, text: str) -> tuple[list[str], torch.Tensor]:
    checkpoint = load_checkpoint(folder)
    prepared = prepare_input(checkpoint.tokenizer, text)
    with torch.no_grad():
        logits, _ = checkpoint.model(prepared.ids)  # [1, T + 1, V]
    return prepared.tokens, torch.log_softmax(logits[0], dim=-1).exp()  # [T + 1, V]


def test_strip_and_top_words_match_the_model(app_models):
    at = exception_free(open_app("Next word"))
    assert_charts_drawn(at, [*(f"{model}: top 10 next words" for model in MODELS), "the word that actually came"])
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
        assert label == (f"{expected:.2f}" if expected >= 0.005 else f"{expected:.0e}") and label != "0.00", (
            token,
            label,
        )
    # The top-10 chart opens at the lesson's word: what the model expects after "with", where "his" comes.
    assert at.select_slider(key="next_word_position").value == "after 9 “with”"
    top = chart_titled(at, "tiny-lstm: top 10")["data"]
    values, indices = probs[9].topk(10)
    words = [checkpoint.tokenizer.id_to_token(int(i)) for i in indices]
    assert list(top["word"])[:10] == words
    assert all(math.isclose(a, float(b), rel_tol=1e-4) for a, b in zip(top["prob"], values))
    # "his" and "her" are always there (after the top ten, with their rank, when they are not in it), and highlighted.
    for word in ("his", "her"):
        row = top[top["word"] == word].iloc[0]
        rank = int((probs[9] > probs[9, checkpoint.tokenizer.token_to_id(word)]).sum()) + 1
        assert row["rank"] == rank and bool(row["highlight"]) and (word in words or f"(rank {rank})" in row["label"])
    assert not top[~top["word"].isin(["his", "her"])]["highlight"].any()
    # One probability axis for every model, so the bars compare across models.
    domains = {
        json.dumps(chart_titled(at, f"tiny-{arch}: top 10")["spec"]["encoding"]["x"]["scale"])
        for arch in ("rnn", "lstm", "gru")
    }
    assert len(domains) == 1
    largest = max(chart_titled(at, f"tiny-{arch}: top 10")["data"]["prob"].max() for arch in ("rnn", "lstm", "gru"))
    assert math.isclose(json.loads(domains.pop())["domain"][1], max(0.05, largest) * 1.35)  # room for the label
    shown = captions(at)
    assert "Baseline" in shown and "1 / vocabulary size" in shown and "one probability axis for every model" in shown
    # The finding at the target, from the numbers: log P(his) - log P(her) per model.
    finding = " ".join(plain(m.value) for m in at.markdown) + " ".join(plain(w.value) for w in at.warning)
    margin = math.log(
        float(probs[9, checkpoint.tokenizer.token_to_id("his")])
        / float(probs[9, checkpoint.tokenizer.token_to_id("her")])
    )
    assert "tiny-lstm " + f"{margin:+.2f}".replace("-", "−") in finding


def test_cell_labels_never_round_a_small_probability_to_zero():
    from ui.views.next_word import cell_label

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


def test_a_preset_brings_its_own_words_and_says_when_every_model_fails(app_models):
    from ui.services.presets import PRESETS

    agreement = next(preset for preset in PRESETS if preset.target == "were")
    at = exception_free(open_app("Next word", text=agreement.text))
    slider = at.select_slider(key="next_word_position")
    assert slider.value == "after 17 “sea”"  # the prediction of "were", not of the end of the sentence
    margins = {}
    for arch in ("rnn", "lstm", "gru"):
        folder = os.path.join(app_models, f"tiny-{arch}")
        _, model_probs = _model_probabilities(folder, agreement.text)
        ids = [load_checkpoint(folder).tokenizer.token_to_id(word) for word in ("were", "was")]
        known = [word for word, index in zip(("were", "was"), ids) if index is not None]
        top = chart_titled(at, f"tiny-{arch}: top 10")["data"]
        assert set(top[top["highlight"]]["word"]) == set(known)  # the preset's words, not his/her
        margins[arch] = (
            None if None in ids else math.log(float(model_probs[17, ids[0]]) / float(model_probs[17, ids[1]]))
        )
    warnings = " ".join(plain(w.value) for w in at.warning)
    measured = [value for value in margins.values() if value is not None]
    if measured and all(value <= 0 for value in measured):
        assert "prefers “was” to “were” here" in warnings and "agreement attraction" in warnings
    else:
        assert "agreement attraction" not in warnings
    if not measured:
        assert "No model has a margin for 'were' over 'was'" in captions(at)
    # Moving the slider away from the target drops the finding (it is about that one prediction).
    slider.set_value(slider.options[3]).run()
    assert "prefer" not in " ".join(plain(m.value) for m in at.markdown if m.value.startswith("**"))
