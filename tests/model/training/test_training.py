"""The training loop: it learns a pattern down to its entropy, keeps the best checkpoint, writes full metrics."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random

import pytest
import torch
from safetensors.torch import load_file

from data.corpus import Corpus, load_local
from data.tokenizer import WordTokenizer
from model.core.checkpoint import load_checkpoint
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel
from model.evaluation.scoring import stream_loss
from model.training.history import training_stages
from model.training.loop import TrainConfig, encode_splits, learning_rate, train

MEN, WOMEN = ["John", "Robert", "James"], ["Mary", "Anne", "Jane"]
# Per paragraph: "<title> <name> came so <pronoun> tea <eos>" = 7 predictions. Only the title
# (1 of 2) and the name (1 of 3) are random; the pronoun follows from the title 3 words back.
ENTROPY_PER_TOKEN = (math.log(2) + math.log(3)) / 7  # 0.256 nats


def pattern_paragraphs(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    paragraphs = []
    for _ in range(count):
        if rng.random() < 0.5:
            paragraphs.append(f"Sir {rng.choice(MEN)} came so his tea")
        else:
            paragraphs.append(f"Lady {rng.choice(WOMEN)} came so her tea")
    return paragraphs


@pytest.fixture(scope="module")
def pattern_corpus(tmp_path_factory) -> Corpus:
    folder = tmp_path_factory.mktemp("pattern")
    for split, count, seed in (("train", 300, 0), ("valid", 100, 1), ("test", 100, 2)):
        (folder / f"{split}.txt").write_text("\n\n".join(pattern_paragraphs(count, seed)) + "\n", encoding="utf-8")
    return load_local(folder=str(folder))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, pattern_corpus):
    """One small LSTM run on the pattern corpus, shared by the tests below (~4 s)."""
    tokenizer = WordTokenizer.train(pattern_corpus.splits["train"], min_frequency=1)
    config = TrainConfig(
        out=str(tmp_path_factory.mktemp("run") / "lstm"),
        model=ModelConfig(
            arch="lstm", vocab_size=tokenizer.vocab_size, embedding_size=16, hidden_size=32, dropout=0.0, decoder="full"
        ),
        batch_size=8,
        bptt=20,
        lr=3e-2,
        epochs=12,
        seed=0,
        progress=False,
        threads=1,
        log_every=10,
        command=["python", "-m", "model.train", "--test"],
    )
    logged = []
    result = train(config, pattern_corpus, tokenizer, on_log=logged.append)
    return config, tokenizer, result, logged


def test_loss_reaches_the_entropy_of_the_generator(trained):
    _, _, result, _ = trained
    assert result.status == "finished"
    floor = ENTROPY_PER_TOKEN
    # Scored in eval mode on the training split by the best checkpoint.
    assert floor - 0.03 < result.metrics["train_loss"] < floor + 0.05
    assert result.metrics["curve"][-1]["train_loss"] < floor + 0.08
    assert result.metrics["valid_loss"] < floor + 0.06
    # It started far above: log(vocabulary) nats for an untrained model.
    assert result.metrics["curve"][0]["train_loss"] > 1.0


def test_the_model_learned_the_pronoun_rule(trained):
    config, tokenizer, _, _ = trained
    model = load_checkpoint(config.out).model
    for title, name, pronoun in (("Sir", "Robert", "his"), ("Lady", "Mary", "her")):
        ids = torch.tensor([[tokenizer.eos_id] + tokenizer.encode(f"{title} {name} came so").ids])  # [1, 5]
        with torch.no_grad():
            logits, _ = model(ids)
        assert tokenizer.id_to_token(int(logits[0, -1].argmax())) == pronoun


def test_best_checkpoint_matches_the_lowest_validation_loss(trained, pattern_corpus):
    config, tokenizer, result, _ = trained
    validation = result.metrics["validation"]
    assert len(validation) == config.epochs
    best = min(validation, key=lambda record: record["loss"])
    assert result.metrics["best_step"] == best["step"]
    assert result.best_valid_loss == pytest.approx(best["loss"], abs=1e-5)
    model = load_checkpoint(config.out).model
    valid = encode_splits(pattern_corpus, tokenizer)["valid"]
    assert stream_loss(model, valid, config.eval_batch_size, config.eval_bptt) == pytest.approx(best["loss"], abs=1e-4)


def test_an_overfitting_run_keeps_the_early_checkpoint(tmp_path):
    """Random words: a large model memorises train and gets worse on valid, so the first epoch stays best."""
    rng = random.Random(0)
    paragraphs = {
        split: [" ".join(f"w{rng.randrange(12)}" for _ in range(8)) for _ in range(30)] for split in ("train", "valid")
    }
    corpus = Corpus(name="random", splits=paragraphs)
    tokenizer = WordTokenizer.train(corpus.splits["train"], min_frequency=1)
    config = TrainConfig(
        out=str(tmp_path / "run"),
        model=ModelConfig(
            arch="lstm", vocab_size=tokenizer.vocab_size, embedding_size=16, hidden_size=64, dropout=0.0, decoder="full"
        ),
        batch_size=2,
        bptt=20,
        lr=2e-2,
        schedule="constant",
        epochs=8,
        seed=0,
        progress=False,
        threads=1,
        command=["pytest"],
    )
    result = train(config, corpus, tokenizer)
    losses = [record["loss"] for record in result.metrics["validation"]]
    assert losses[-1] > min(losses) + 0.1  # it did get worse
    best = result.metrics["validation"][losses.index(min(losses))]
    assert load_checkpoint(config.out).metrics["best_step"] == best["step"] < result.steps
    model = load_checkpoint(config.out).model
    valid = encode_splits(corpus, tokenizer)["valid"]
    assert stream_loss(model, valid, config.eval_batch_size, config.eval_bptt) == pytest.approx(min(losses), abs=1e-4)


def test_metrics_json_has_every_required_key(trained, pattern_corpus):
    config, tokenizer, result, _ = trained
    with open(os.path.join(config.out, "metrics.json"), encoding="utf-8") as stream:
        metrics = json.load(stream)
    assert metrics == result.metrics
    assert metrics["corpus"] == pattern_corpus.name and metrics["corpus"].startswith("pattern")
    for split in ("train", "valid", "test"):
        entry = metrics["corpus_files"][split]
        assert entry["sha256"] == hashlib.sha256(open(entry["path"], "rb").read()).hexdigest()
        assert metrics[f"{split}_ppl"] == pytest.approx(math.exp(metrics[f"{split}_loss"]))
        assert 1.0 < metrics[f"{split}_ppl"] < 2.0
    assert metrics["vocab_size"] == tokenizer.vocab_size
    model = load_checkpoint(config.out).model
    assert metrics["parameters"] == sum(p.numel() for p in model.parameters())
    assert 0 < metrics["epochs"] <= config.epochs
    assert metrics["tokens_per_second"] > 0 and metrics["wall_time_seconds"] > 0
    assert metrics["command"] == ["python", "-m", "model.train", "--test"]
    assert metrics["seed"] == 0
    assert {"python", "torch", "tokenizers", "safetensors", "datasets"} <= set(metrics["library_versions"])
    assert metrics["library_versions"]["torch"] == torch.__version__
    assert metrics["status"] == "finished"
    assert metrics["tokenizer_sha256"] == tokenizer.fingerprint()
    curve = metrics["curve"]
    for key in (
        "step",
        "epoch",
        "train_loss",
        "train_ppl",
        "lr",
        "tokens_per_second",
        "grad_norm_mean",
        "grad_norm_max",
    ):
        assert all(key in point for point in curve), key
    assert all(0 < point["grad_norm_mean"] <= point["grad_norm_max"] for point in curve)
    assert [point["step"] for point in curve] == sorted(point["step"] for point in curve)
    assert curve[-1]["step"] == result.steps
    assert all({"epoch", "step", "split", "loss", "ppl"} <= set(record) for record in metrics["validation"])


def test_on_log_receives_every_curve_point(trained):
    _, _, result, logged = trained
    assert logged == result.metrics["curve"]


def test_learning_rate_values_in_the_curve_follow_the_schedule(trained):
    config, _, result, _ = trained
    total = result.steps
    for point in result.metrics["curve"]:
        step = point["step"] - 1  # the rate used for the point's last step
        assert point["lr"] == pytest.approx(learning_rate(config, step / total, step))
    assert result.metrics["curve"][-1]["lr"] < 0.1 * config.lr  # cosine decays toward min_lr_ratio


def _schedule(**overrides) -> TrainConfig:
    values = dict(
        out="unused", model=ModelConfig(vocab_size=10, decoder="full"), lr=1.0, min_lr_ratio=0.1, command=["pytest"]
    )
    values.update(overrides)
    return TrainConfig(**values)


def test_learning_rate_schedule_values():
    constant = _schedule(schedule="constant")
    assert [learning_rate(constant, p, 0) for p in (0.0, 0.5, 1.0)] == [1.0, 1.0, 1.0]
    cosine = _schedule(schedule="cosine")
    assert learning_rate(cosine, 0.0, 0) == pytest.approx(1.0)
    assert learning_rate(cosine, 0.5, 0) == pytest.approx(0.55)  # halfway: 0.1 + 0.9 * 0.5
    assert learning_rate(cosine, 1.0, 0) == pytest.approx(0.1)
    assert learning_rate(cosine, 0.25, 0) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    linear = _schedule(schedule="linear")
    assert [learning_rate(linear, p, 0) for p in (0.0, 0.5, 1.0)] == pytest.approx([1.0, 0.55, 0.1])
    assert learning_rate(linear, 2.0, 0) == pytest.approx(0.1)  # progress is clamped
    warm = _schedule(schedule="constant", warmup_steps=4)
    assert [learning_rate(warm, 0.0, step) for step in range(6)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="schedule must be"):
        learning_rate(_schedule(schedule="step"), 0.0, 0)


def _sgd_run(tmp_path, corpus, tokenizer, clip, name):
    config = TrainConfig(
        out=str(tmp_path / name),
        model=ModelConfig(
            arch="rnn", vocab_size=tokenizer.vocab_size, embedding_size=8, hidden_size=16, dropout=0.0, decoder="full"
        ),
        optimizer="sgd",
        lr=1.0,
        schedule="constant",
        clip=clip,
        batch_size=4,
        bptt=10,
        epochs=1,
        seed=3,
        progress=False,
        threads=1,
        log_every=1,
        command=["pytest"],
    )
    return config, train(config, corpus, tokenizer)


def _weight_change(config) -> float:
    torch.manual_seed(config.seed)  # train() builds its model right after seeding
    initial = LanguageModel(config.model).state_dict()
    final = load_file(os.path.join(config.out, "resume", "state.safetensors"))
    return math.sqrt(sum(float(((final[f"model.{name}"] - tensor) ** 2).sum()) for name, tensor in initial.items()))


def test_clipping_limits_each_step_and_the_curve_records_norms_before_clipping(tmp_path):
    corpus = Corpus(name="small", splits={"train": pattern_paragraphs(40, 5), "valid": pattern_paragraphs(10, 6)})
    tokenizer = WordTokenizer.train(corpus.splits["train"], min_frequency=1)
    clip = 1e-3
    clipped_config, clipped = _sgd_run(tmp_path, corpus, tokenizer, clip, "clipped")
    free_config, free = _sgd_run(tmp_path, corpus, tokenizer, None, "free")
    steps = clipped.steps
    # The recorded norms are measured before clipping, so they exceed the clip.
    assert min(point["grad_norm_max"] for point in clipped.metrics["curve"]) > 100 * clip
    assert free.metrics["train_config"]["clip"] is None
    # Same first step (same seed, same data): the same norm is recorded with and without clipping.
    assert clipped.metrics["curve"][0]["grad_norm_max"] == pytest.approx(
        free.metrics["curve"][0]["grad_norm_max"], rel=1e-5
    )
    # With SGD each clipped step moves the weights by at most lr * clip; unclipped steps move far more.
    assert _weight_change(clipped_config) <= steps * 1.0 * clip * (1 + 1e-4)
    assert _weight_change(free_config) > 10 * steps * clip


def test_tokenizer_and_config_sizes_must_agree(tmp_path, pattern_corpus):
    tokenizer = WordTokenizer.train(pattern_corpus.splits["train"], min_frequency=1)
    config = TrainConfig(
        out=str(tmp_path / "x"),
        model=ModelConfig(vocab_size=tokenizer.vocab_size + 1, decoder="full"),
        progress=False,
        command=["pytest"],
    )
    with pytest.raises(ValueError, match="tokenizer has .* tokens but the model config says"):
        train(config, pattern_corpus, tokenizer)


def test_a_diverging_run_stops_before_the_weights_turn_nan(tmp_path):
    """No clipping and an absurd rate: the loss overflows; the run stops with finite, JSON-safe state."""
    rng = random.Random(0)
    corpus = Corpus(
        name="random",
        splits={
            "train": [" ".join(f"w{rng.randrange(12)}" for _ in range(8)) for _ in range(40)],
            "valid": ["w1 w2 w3 w4"] * 5,
        },
    )
    tokenizer = WordTokenizer.train(corpus.splits["train"], min_frequency=1)
    config = TrainConfig(
        out=str(tmp_path / "run"),
        model=ModelConfig(
            arch="rnn", vocab_size=tokenizer.vocab_size, embedding_size=8, hidden_size=16, dropout=0.0, decoder="full"
        ),
        optimizer="sgd",
        lr=1e38,
        schedule="constant",
        clip=None,
        batch_size=4,
        bptt=10,
        epochs=2,
        seed=0,
        progress=False,
        threads=1,
        log_every=1,
        command=["pytest"],
    )
    result = train(config, corpus, tokenizer)
    assert result.status == "diverged"
    assert 0 < result.steps < 2 * 8  # it stopped early
    assert all(
        math.isfinite(point["train_loss"]) and math.isfinite(point["grad_norm_max"])
        for point in result.metrics["curve"]
    )
    json.dumps(result.metrics, allow_nan=False)
    state = load_file(os.path.join(config.out, "resume", "state.safetensors"))
    assert all(torch.isfinite(tensor).all() for name, tensor in state.items() if name.startswith("model."))


def test_init_from_starts_at_the_checkpoint_weights_and_refuses_a_mismatch(trained, pattern_corpus, tmp_path):
    _, _, result, _ = trained
    source = load_checkpoint(result.out)
    config = source.config
    seen = {}
    warm = TrainConfig(
        out=str(tmp_path / "warm"),
        model=config,
        batch_size=4,
        bptt=8,
        epochs=1,
        seed=3,
        progress=False,
        threads=1,
        init_from=result.out,
        command=["pytest"],
    )
    # Capture the weights before the first step: they must be the checkpoint's, not a fresh init.
    train(
        warm,
        pattern_corpus,
        source.tokenizer,
        on_model=lambda model: seen.update({k: v.clone() for k, v in model.state_dict().items()}),
        should_stop=lambda: True,
    )
    for name, tensor in source.model.state_dict().items():
        assert torch.equal(seen[name], tensor), name
    other = ModelConfig(**{**config.__dict__, "hidden_size": config.hidden_size + 1})
    bad = TrainConfig(
        out=str(tmp_path / "bad"),
        model=other,
        batch_size=4,
        bptt=8,
        epochs=1,
        progress=False,
        threads=1,
        init_from=result.out,
        command=["pytest"],
    )
    with pytest.raises(ValueError, match="--init-from"):
        train(bad, pattern_corpus, source.tokenizer)


def test_each_warm_start_keeps_the_chain_of_stages_also_through_a_resume(trained, pattern_corpus, tmp_path):
    _, tokenizer, result, _ = trained
    model_config = load_checkpoint(result.out).config

    def stage(name: str, init_from: str) -> TrainConfig:
        return TrainConfig(
            out=str(tmp_path / name),
            model=model_config,
            batch_size=4,
            bptt=8,
            epochs=1,
            seed=3,
            progress=False,
            threads=1,
            init_from=init_from,
            command=["pytest", name],
        )

    second = train(stage("second", result.out), pattern_corpus, tokenizer)
    assert second.metrics["pretraining"]["command"] == result.metrics["command"]
    # The third stage is stopped after two steps and resumed: the record must come back from the saved state.
    steps = iter(range(1000))
    stopped = train(stage("third", second.out), pattern_corpus, tokenizer, should_stop=lambda: next(steps) >= 2)
    assert stopped.status != "finished"
    third = train(stage("third", second.out), pattern_corpus, tokenizer, resume=str(tmp_path / "third"))
    assert third.status == "finished"
    stages = training_stages(load_checkpoint(third.out).metrics)
    assert [s["stage"] for s in stages] == ["stage 1 of 3", "stage 2 of 3", "stage 3 of 3"]
    assert [s["init_from"] for s in stages] == [None, result.out, second.out]
    assert stages[0]["epochs"] == result.metrics["epochs"] and stages[0]["bptt"] == 20
