"""The transplant report on real (tiny, trained) checkpoints: the JSON contract, exact in float64, and bad input."""

from __future__ import annotations

import json

import pytest
import torch

from model.analysis.memory.transplant_report import prepare_pair, resolve_target, transplant_report

TEXT = "Mr. Robert said that the weather was fine , so his friend came to tea ."
SWAPPED = "Mrs. Mary said that the weather was fine , so his friend came to tea ."


class Loaded:
    """A model and its tokenizer, like a loaded checkpoint."""

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer, self.config = model, tokenizer, model.config


def remembering_model(arch: str, vocab_size: int, hidden_size: int = 6, seed: int = 1):
    """A random float64 model shaped to keep its first words in mind (so the cue moves his vs her by > 0.05 nats)."""
    from model.core.config import ModelConfig
    from model.core.language_model import LanguageModel

    torch.manual_seed(seed)
    config = ModelConfig(
        arch=arch, vocab_size=vocab_size, embedding_size=8, hidden_size=hidden_size, dropout=0.0, decoder="full"
    )
    model = LanguageModel(config).double().eval()
    recurrent, h = model.recurrent, hidden_size
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.7)
        model.decoder.weight.mul_(3.0)
        if arch == "rnn":  # a slightly expanding rotation with weak inputs: the first words echo on
            recurrent.weight_ih_l0.mul_(0.4)
            recurrent.weight_hh_l0.copy_(torch.linalg.qr(torch.randn(h, h, dtype=torch.float64))[0] * 1.2)
        else:  # forget (LSTM) / update (GRU) gates mostly open: the state keeps what it had
            recurrent.bias_ih_l0[h : 2 * h] += 5.0 if arch == "lstm" else 2.0
    return model


@pytest.fixture(scope="module")
def double_checkpoints():
    """float64 models that remember, over a small vocabulary, each with its tokenizer."""
    from data.tokenizer import WordTokenizer

    tokenizer = WordTokenizer.train([TEXT, SWAPPED, "Mr. John and Mrs. Anne saw her here ."], min_frequency=1)
    return {arch: Loaded(remembering_model(arch, tokenizer.vocab_size), tokenizer) for arch in ("rnn", "lstm", "gru")}


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_the_json_contract_and_the_exact_shares(double_checkpoints, arch):
    checkpoint = double_checkpoints[arch]
    size = checkpoint.config.hidden_size * (2 if arch == "lstm" else 1)
    report = transplant_report(checkpoint.model, checkpoint.tokenizer, TEXT, counts=(1, 4, size))
    json.dumps(report, allow_nan=False)
    assert report["counterfactual_text"] == SWAPPED and report["cue"] == [0, 3] and report["word_after_cue"] == 3
    target = report["target"]
    assert (target["word"], target["contrast"], target["index"], target["position"]) == ("his", "her", 11, 10)
    assert abs(report["effect"]) > 0.05  # the proofs below are not about a swap that moves nothing
    positions = report["positions"]
    assert [p["index"] for p in positions] == list(range(len(report["tokens"])))
    assert {"index", "word", "state_distance", "share_all", "share_cell", "share_hidden", "share_top"} <= set(
        positions[0]
    )
    # Whole state right after the cue (and up to the word before the target): exactly the counterfactual's target.
    for k in range(3, 11):
        assert abs(positions[k]["share_all"] - 1.0) < 1e-9
        assert abs(positions[k]["share_top"][str(size)] - 1.0) < 1e-9  # all units, one by one, is the whole state
    assert positions[11]["share_all"] == 0.0 and all(share == 0.0 for share in positions[11]["share_top"].values())
    assert positions[target["position"]]["factual_value"] == report["factual"]
    assert positions[target["position"]]["counterfactual_value"] == report["counterfactual"]
    assert all(p["state_distance"] > 0 for p in positions)  # the cue is the first word: the runs differ from the start
    if arch == "lstm":
        assert all(abs(p["share_cell"] + p["share_hidden"] - p["share_all"]) < 1.5 for p in positions[3:11])
        assert (
            abs(positions[10]["share_hidden"] - 1.0) < 1e-9 and abs(positions[10]["share_cell"]) < 1e-9
        )  # only h is read at p
        assert len(positions[0]["cell_distance"]) == 1
    else:
        assert all(
            p["share_cell"] is None and p["share_hidden"] is None and p["cell_distance"] is None for p in positions
        )
    units = report["units"]
    assert len(units) == min(16, size) and set(units[0]) == {"unit", "layer", "part", "effect"}
    assert [abs(u["effect"]) for u in units] == sorted((abs(u["effect"]) for u in units), reverse=True)
    assert {u["part"] for u in units} <= ({"h", "c"} if arch == "lstm" else {"h"})
    needed = report["units_needed"]
    assert needed["word"] == 10 and needed["counts"][-1] == size and abs(needed["shares_transplant"][-1] - 1.0) < 1e-9
    assert needed["transplant"] == next(n for n, s in zip(needed["counts"], needed["shares_transplant"]) if s >= 0.8)
    assert (
        set(report["overlap"]["transplant"]) == {"1", "4", str(size)}
        and report["overlap"]["transplant"][str(size)] == 1.0
    )
    line = report["unit_lines"][0]
    assert len(line["factual"]) == len(positions) and line["factual"] != line["counterfactual"]
    assert (line["unit"], line["part"]) == (units[0]["unit"], units[0]["part"])
    assert (line["forget_factual"] is not None) == (arch == "lstm")


def test_a_layer_the_checkpoint_lacks_and_other_bad_input(double_checkpoints):
    checkpoint = double_checkpoints["gru"]
    model, tokenizer = checkpoint.model, checkpoint.tokenizer
    with pytest.raises(ValueError, match=r"1 layer, so layer must be in \[-1, 0\]"):
        transplant_report(model, tokenizer, TEXT, layer=1)
    with pytest.raises(ValueError, match="same number of tokens; got 17 and 15"):
        transplant_report(
            model, tokenizer, TEXT, counterfactual="Mary said that the weather was fine , so his friend came to tea ."
        )
    with pytest.raises(ValueError, match=r"differ at token 11 \('his' vs 'her'\)"):
        transplant_report(model, tokenizer, TEXT, counterfactual=SWAPPED.replace("his", "her"))
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        transplant_report(
            model,
            tokenizer,
            TEXT,
            counterfactual="Mrs. Zyzzyva said that the weather was fine , so his friend came to tea .",
        )
    with pytest.raises(ValueError, match="'Quokka' is not in the model's vocabulary"):
        transplant_report(model, tokenizer, TEXT, target_word="Quokka", contrast_word="her")
    with pytest.raises(ValueError, match="at or before the cue"):
        transplant_report(model, tokenizer, TEXT, target_index=2)
    with pytest.raises(ValueError, match="No title-and-name cue"):
        prepare_pair(tokenizer, "the weather was fine")


def test_marked_spans_and_targets():
    assert resolve_target(["Mr", ".", "Robert", "said", "his"], 3, None, None) == (4, "his", "her")
    assert resolve_target(["Mr", ".", "Robert", "said"], 3, "his", None) == (4, "his", "her")  # the word after the text
    with pytest.raises(ValueError, match="only at or before the cue"):
        resolve_target(["his", "Mr", ".", "Robert"], 4, "his", "her")
    with pytest.raises(ValueError, match="needs a target word"):
        resolve_target(["Mr", ".", "Robert"], 3, None, "her")
    with pytest.raises(ValueError, match="Pass a contrast word"):
        resolve_target(["Mr", ".", "Robert", "said"], 3, "said", None)


def test_spans_let_a_pair_differ_in_two_places(double_checkpoints):
    checkpoint = double_checkpoints["lstm"]
    text = "Mr. Robert said that Mr. John was fine , so his friend came to tea ."
    swapped = "Mrs. Mary said that Mrs. Anne was fine , so his friend came to tea ."
    with pytest.raises(ValueError, match=r"differ at token 5 \('Mr' vs 'Mrs'\), 7 \('John' vs 'Anne'\)"):
        transplant_report(checkpoint.model, checkpoint.tokenizer, text, counterfactual=swapped)
    report = transplant_report(
        checkpoint.model, checkpoint.tokenizer, text, counterfactual=swapped, spans=[(0, 3), (5, 8)]
    )
    assert (
        report["cue"] == [0, 8]
        and report["spans"] == [[0, 3], [5, 8]]
        and abs(report["positions"][8]["share_all"] - 1) < 1e-9
    )
    default = transplant_report(checkpoint.model, checkpoint.tokenizer, text, spans=[(0, 3), (5, 8)])
    assert default["counterfactual_text"] == "Mrs. Mary said that Mrs. Mary was fine , so his friend came to tea ."
