"""The long-range lab: lag accuracy is measured right, and a tiny seeded run shows the LSTM ahead of the RNN."""
from __future__ import annotations

import json

import pytest
import torch

from data.long_lag import LagDistribution, LongLagSpec, evaluation_sequences
from data.tokenizer import WordTokenizer
from model.config import ModelConfig
from model.lab import LabConfig, run_lab
from model.lab_cli import main
from model.lag_accuracy import lag_accuracy
from model.language_model import LanguageModel

# The default lab shrunk: lags 1..30, batch 32, ~280 SGD steps per model, about 2 s each.
TINY = LabConfig(train_lags=LagDistribution("loguniform", 1, 30), eval_lags=(1, 3, 8, 30), batch_size=32, bptt=64,
                 num_sequences=4000, epochs=12, eval_every=40, eval_per_lag=64)


@pytest.fixture(scope="module")
def tiny_lab():
    progress: list[tuple[str, int, dict[int, float]]] = []
    result = run_lab(TINY, on_progress=lambda name, step, curve: progress.append((name, step, dict(curve.accuracy))))
    return result, progress


def test_lstm_remembers_the_cue_at_a_long_lag_where_the_rnn_does_not(tiny_lab):
    result, _ = tiny_lab
    rnn, lstm = result.runs["rnn"].curve.accuracy, result.runs["lstm"].curve.accuracy
    assert lstm[30] >= 0.9
    assert rnn[30] <= lstm[30] - 0.25
    assert rnn[1] >= 0.9  # the RNN does learn the nearest cue: "( )"
    assert result.runs["lstm"].curve.first_lag_below(0.9) is None
    assert result.chance == pytest.approx((1 / 3 + 3 * 5 / 12) / 4)  # lag 1: brackets only (1/3); then his/her and brackets


def test_curves_are_reported_while_training(tiny_lab):
    result, progress = tiny_lab
    for name in ("rnn", "lstm"):
        steps = [step for model, step, _ in progress if model == name]
        assert len(steps) >= 5 and steps == sorted(steps)
        assert steps[-1] == result.runs[name].steps
        assert set(progress[0][2]) == {1, 3, 8, 30}
    # The models handed back are the trained ones: measuring them again gives the final curve.
    spec = TINY.corpus_spec()
    sequences = evaluation_sequences(list(TINY.eval_lags), TINY.eval_per_lag, spec, seed=TINY.seed + 1_000_003)
    again = lag_accuracy(result.runs["lstm"].model, result.tokenizer, sequences)
    assert again.accuracy == result.runs["lstm"].curve.accuracy
    assert not result.runs["lstm"].model.training


def test_lag_accuracy_counts_the_right_closer():
    """A model whose decoder always favours 'his' is right on every Mr. sequence and wrong on every Mrs. one."""
    spec = LongLagSpec(num_cue_types=2)
    sequences = evaluation_sequences([3, 7], 10, spec)
    tokenizer = WordTokenizer.train([" ".join(s.tokens) for s in sequences] + ["his her ) ] }"], min_frequency=1)
    model = LanguageModel(ModelConfig(arch="rnn", vocab_size=tokenizer.vocab_size, embedding_size=4, hidden_size=4, dropout=0.0, decoder="full"))
    with torch.no_grad():
        model.decoder.weight.zero_()
        model.decoder.bias.zero_()
        model.decoder.bias[tokenizer.token_to_id("his")] = 1.0
        model.decoder.bias[tokenizer.token_to_id(")")] = 1.0
    curve = lag_accuracy(model.eval(), tokenizer, sequences)
    for lag in (3, 7):
        titles = [s for s in sequences if s.lag == lag and s.cue_type == "title"]
        brackets = [s for s in sequences if s.lag == lag and s.cue_type == "bracket"]
        assert curve.by_cue["title"][lag] == sum(s.answer == "his" for s in titles) / len(titles)
        assert curve.by_cue["bracket"][lag] == sum(s.answer == ")" for s in brackets) / len(brackets)
        assert curve.chance[lag] == pytest.approx((1 / 2 + 1 / 3) / 2)
        assert curve.count[lag] == 10


def test_unknown_evaluation_words_are_refused():
    sequences = evaluation_sequences([3], 2, LongLagSpec())
    tokenizer = WordTokenizer.train(["Mr . his her"], min_frequency=1)
    model = LanguageModel(ModelConfig(arch="lstm", vocab_size=tokenizer.vocab_size, embedding_size=4, hidden_size=4, dropout=0.0, decoder="full")).eval()
    with pytest.raises(ValueError, match="not in the tokenizer's vocabulary"):
        lag_accuracy(model, tokenizer, sequences)


def test_settings_that_cannot_work_are_refused():
    with pytest.raises(ValueError, match="exceeds bptt"):
        run_lab(LabConfig(eval_lags=(3, 200), bptt=128))
    with pytest.raises(ValueError, match="rnn"):
        run_lab(LabConfig(archs=("transformer",)))


def test_cli_json(capsys):
    code = main(["--sequences", "300", "--epochs", "1", "--lags", "3", "6", "--hidden-size", "8", "--cue-types", "1",
                 "--min-lag", "3", "--max-lag", "8", "--eval-every", "5", "--json", "--quiet"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["models"]) == {"rnn", "lstm"}
    assert set(summary["models"]["lstm"]["curve"]["accuracy"]) == {"3", "6"}
    assert summary["chance"] == 0.5


def test_cli_refuses_impossible_lags(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--lags", "2", "5", "--cue-types", "1"])
    assert stop.value.code == 2
    assert "at least 3" in capsys.readouterr().err
