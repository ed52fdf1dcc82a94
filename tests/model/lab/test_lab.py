"""The long-range lab: per-lag shares over seeds, the claim check, lag accuracy measured right, the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from data.long_lag import LagDistribution, LongLagSpec, evaluation_sequences
from data.tokenizer import WordTokenizer
from model.cli.lab import main
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel
from model.lab.lag_accuracy import LagCurve, batched_lag_accuracy, lag_accuracy
from model.lab.run import LabConfig, claim_check, lag_shares, run_lab

# The lab shrunk to seconds: 3 seeds of tiny models, 12 steps, lags up to 12.
TINY = LabConfig(
    seeds=3,
    first_seed=5,
    eval_lags=(1, 3, 12),
    train_lags=LagDistribution("loguniform", 1, 12),
    num_sequences=400,
    embedding_size=8,
    lstm_hidden_size=8,
    batch_size=8,
    bptt=32,
    steps=12,
    eval_every=4,
    eval_per_lag=12,
)


@pytest.fixture(scope="module")
def tiny_lab():
    progress, plans = [], []
    result = run_lab(
        TINY, on_plan=plans.append, on_progress=lambda arch, step, shares: progress.append((arch, step, shares))
    )
    return result, progress, plans


def test_each_lag_gets_the_share_of_seeds_that_learned_it_and_their_spread(tiny_lab):
    result, _, _ = tiny_lab
    assert list(result.runs) == ["rnn", "lstm"] and result.status == "finished"
    for run in result.runs.values():
        assert run.seeds == (5, 6, 7) and len(run.curves) == 3
        for share in run.shares():
            values = [curve.accuracy[share.lag] for curve in run.curves]
            assert share.learned == sum(value >= 0.9 for value in values) and share.seeds == 3
            assert share.min_accuracy == min(values) and share.max_accuracy == max(values)
            assert share.mean_accuracy == pytest.approx(sum(values) / 3)
            assert share.chance == result.chance[share.lag]
    # Equal parameter counts: the RNN is about twice as wide as the LSTM.
    rnn, lstm = result.runs["rnn"], result.runs["lstm"]
    assert rnn.hidden_size > lstm.hidden_size and abs(rnn.parameters - lstm.parameters) < 0.05 * lstm.parameters
    assert result.chance == {1: pytest.approx(1 / 3), 3: pytest.approx(5 / 12), 12: pytest.approx(5 / 12)}


def test_the_models_handed_back_are_the_measured_ones(tiny_lab):
    result, _, _ = tiny_lab
    spec = TINY.corpus_spec()
    sequences = evaluation_sequences(list(TINY.eval_lags), TINY.eval_per_lag, spec, seed=TINY.corpus_seed + 1_000_003)
    for run in result.runs.values():
        again = batched_lag_accuracy(run.model, result.tokenizer, sequences)
        assert [curve.accuracy for curve in again] == [curve.accuracy for curve in run.curves]
        # Seed by seed, the ordinary LanguageModel with the same weights measures the same.
        alone = lag_accuracy(run.model.to_language_model(2), result.tokenizer, sequences)
        assert alone.accuracy == run.curves[2].accuracy
        assert not run.model.training


def test_shares_are_reported_while_training_and_the_plan_before(tiny_lab):
    result, progress, plans = tiny_lab
    for arch in ("rnn", "lstm"):
        steps = [step for name, step, _ in progress if name == arch]
        assert steps == [4, 8, 12] == [step for step, _ in result.runs[arch].history]
        assert result.runs[arch].run.steps == 12 and len(result.runs[arch].run.losses) == 12
    [plan] = plans
    assert plan is result.plan and plan.steps == 12 and plan.evaluations == 3 and plan.seeds == 3
    assert all(seconds > 0 for seconds in plan.seconds_per_step.values())
    assert plan.expected_seconds == pytest.approx(
        sum(plan.seconds_per_step[a] * 12 + plan.seconds_per_evaluation[a] * 3 for a in ("rnn", "lstm"))
    )
    summary = json.loads(json.dumps(result.summary()))
    assert summary["seeds"] == [5, 6, 7] and summary["claim"]["seeds"] == 3
    assert set(summary["models"]["lstm"]["lags"][0]) >= {
        "lag",
        "learned_share",
        "mean_accuracy",
        "min_accuracy",
        "max_accuracy",
    }


def test_a_stop_ends_the_run_where_it_is_and_skips_the_rest():
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2  # polled once before the RNN, then after each step

    result = run_lab(TINY, should_stop=stop)
    assert list(result.runs) == ["rnn"] and result.status == "stopped"
    run = result.runs["rnn"]
    assert run.run.status == "stopped" and run.run.steps == 2
    assert [step for step, _ in run.history] == [2]  # measured where it stopped
    assert result.claim() is None


def _curve(accuracy: dict[int, float]) -> LagCurve:
    return LagCurve(
        accuracy=accuracy, by_cue={}, chance={lag: 0.5 for lag in accuracy}, count={lag: 8 for lag in accuracy}
    )


def test_lag_shares_count_seeds_at_or_above_the_threshold():
    curves = [_curve({10: 0.9, 40: 0.5}), _curve({10: 0.95, 40: 1.0}), _curve({10: 0.3, 40: 0.89})]
    ten, forty = lag_shares(curves)
    assert (ten.lag, ten.learned, ten.seeds, ten.min_accuracy, ten.max_accuracy) == (10, 2, 3, 0.3, 0.95)
    assert forty.learned == 1 and forty.learned_share == pytest.approx(1 / 3)
    assert forty.mean_accuracy == pytest.approx((0.5 + 1.0 + 0.89) / 3)
    with pytest.raises(ValueError, match="at least one"):
        lag_shares([])


def test_the_claim_takes_the_worst_lag_from_30_on_and_needs_15_of_16():
    lstm = {seed: {"5": 1.0, "30": 1.0, "60": 1.0 if seed else 0.8} for seed in range(16)}  # seed 0 misses lag 60
    rnn = {seed: {"5": 1.0, "30": 0.5, "60": 0.4} for seed in range(16)}
    check = claim_check({"rnn": rnn, "lstm": lstm})
    assert check.lags == (30, 60) and check.lstm_learned == 15 and check.rnn_below == 16
    assert check.required == 15 and check.holds
    rnn[3]["30"] = rnn[4]["30"] = 0.7  # two RNN seeds hold the cue at lag 30
    assert claim_check({"rnn": rnn, "lstm": lstm}).rnn_below == 14
    assert not claim_check({"rnn": rnn, "lstm": lstm}).holds
    with pytest.raises(ValueError, match="Train both"):
        claim_check({"lstm": lstm})


def test_lag_accuracy_counts_the_right_closer():
    """A model whose decoder always favours 'his' is right on every Mr. sequence and wrong on every Mrs. one."""
    spec = LongLagSpec(num_cue_types=2)
    sequences = evaluation_sequences([3, 7], 10, spec)
    tokenizer = WordTokenizer.train([" ".join(s.tokens) for s in sequences] + ["his her ) ] }"], min_frequency=1)
    model = LanguageModel(
        ModelConfig(
            arch="rnn", vocab_size=tokenizer.vocab_size, embedding_size=4, hidden_size=4, dropout=0.0, decoder="full"
        )
    )
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
    model = LanguageModel(
        ModelConfig(
            arch="lstm", vocab_size=tokenizer.vocab_size, embedding_size=4, hidden_size=4, dropout=0.0, decoder="full"
        )
    ).eval()
    with pytest.raises(ValueError, match="not in the tokenizer's vocabulary"):
        lag_accuracy(model, tokenizer, sequences)


def test_settings_that_cannot_work_are_refused():
    with pytest.raises(ValueError, match="exceeds bptt"):
        run_lab(LabConfig(eval_lags=(3, 200), bptt=128))
    with pytest.raises(ValueError, match="rnn"):
        run_lab(LabConfig(archs=("gru",)))
    with pytest.raises(ValueError, match="seeds must be a positive integer"):
        run_lab(LabConfig(seeds=0))


def test_cli_json_has_per_lag_shares_wall_time_and_time_per_step(capsys):
    code = main(
        [
            "--seeds",
            "2",
            "--sequences",
            "300",
            "--steps",
            "3",
            "--lags",
            "3",
            "6",
            "--hidden-size",
            "8",
            "--cue-types",
            "1",
            "--min-lag",
            "3",
            "--max-lag",
            "8",
            "--eval-every",
            "2",
            "--batch-size",
            "4",
            "--json",
            "--quiet",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["models"]) == {"rnn", "lstm"} and summary["seeds"] == [0, 1]
    for model in summary["models"].values():
        assert [row["lag"] for row in model["lags"]] == [3, 6]
        for row in model["lags"]:
            assert {"lag", "learned_share", "mean_accuracy", "min_accuracy", "max_accuracy"} <= set(row)
            assert row["min_accuracy"] <= row["mean_accuracy"] <= row["max_accuracy"]
        assert model["seconds_per_step"] > 0 and set(model["accuracy_by_seed"]) == {"0", "1"}
    assert summary["wall_seconds"] > 0 and summary["plan"]["expected_seconds"] > 0
    assert summary["chance"] == {"3": 0.5, "6": 0.5}


def test_cli_refuses_impossible_lags(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--lags", "2", "5", "--cue-types", "1"])
    assert stop.value.code == 2
    assert "at least 3" in capsys.readouterr().err
