"""Resuming: an interrupted run continues exactly; SIGTERM and kill -9 of the real CLI leave usable state."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

import model.core.resume_state as resume_module
from data.batching import batchify, num_windows
from data.corpus import Corpus
from data.tokenizer import WordTokenizer
from model.core.checkpoint import load_checkpoint
from model.core.config import ModelConfig
from model.core.resume_state import find_resume_state
from model.training.loop import TrainConfig, encode_splits, train

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TIMING_KEYS = {"elapsed", "tokens_per_second"}


def paragraphs(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        title, name, pronoun = rng.choice(
            [("Mr.", "Robert", "his"), ("Mr.", "John", "his"), ("Mrs.", "Mary", "her"), ("Mrs.", "Anne", "her")]
        )
        filler = rng.choice(["", " said the tea was cold and", " went out as the bell rang and"])
        out.append(f"{title} {name}{filler} took {pronoun} hat.")
    return out


@pytest.fixture(scope="module")
def setting():
    corpus = Corpus(
        name="resume", splits={"train": paragraphs(60, 0), "valid": paragraphs(15, 1), "test": paragraphs(15, 2)}
    )
    tokenizer = WordTokenizer.train(corpus.splits["train"], min_frequency=1)
    return corpus, tokenizer


def _config(out: str, tokenizer: WordTokenizer) -> TrainConfig:
    return TrainConfig(
        out=out,
        # dropout > 0 (and 2 layers, so dropout between them too): resuming must restore the RNG.
        model=ModelConfig(
            arch="lstm",
            vocab_size=tokenizer.vocab_size,
            embedding_size=8,
            hidden_size=12,
            num_layers=2,
            dropout=0.3,
            decoder="full",
        ),
        batch_size=4,
        bptt=10,
        lr=1e-2,
        epochs=2,
        seed=7,
        progress=False,
        threads=1,
        log_every=4,
        command=["pytest"],
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, setting):
    corpus, tokenizer = setting
    out = str(tmp_path_factory.mktemp("straight") / "run")
    return out, train(_config(out, tokenizer), corpus, tokenizer)


def _stop_after(steps: int):
    calls = {"count": 0}

    def should_stop() -> bool:  # polled once after every step
        calls["count"] += 1
        return calls["count"] == steps

    return should_stop


def _without_timing(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k not in TIMING_KEYS} for record in records]


def _assert_same_run(out_a: str, result_a, out_b: str, result_b) -> None:
    state_a = load_file(os.path.join(out_a, "resume", "state.safetensors"))
    state_b = load_file(os.path.join(out_b, "resume", "state.safetensors"))
    assert set(state_a) == set(state_b)
    weights = [name for name in state_a if name.startswith("model.")]
    assert weights
    for name in state_a:  # weights, optimizer moments, carried hidden state and the RNG itself
        assert torch.equal(state_a[name], state_b[name]), name
    best_a, best_b = load_checkpoint(out_a).model.state_dict(), load_checkpoint(out_b).model.state_dict()
    assert all(torch.equal(best_a[name], best_b[name]) for name in best_a)
    assert result_a.steps == result_b.steps
    assert _without_timing(result_a.metrics["curve"]) == _without_timing(result_b.metrics["curve"])
    assert _without_timing(result_a.metrics["validation"]) == _without_timing(result_b.metrics["validation"])
    for split in ("train", "valid", "test"):
        assert result_a.metrics[f"{split}_loss"] == result_b.metrics[f"{split}_loss"]


def test_the_uninterrupted_run_uses_dropout_and_several_curve_points(uninterrupted, setting):
    _, result = uninterrupted
    corpus, tokenizer = setting
    steps_per_epoch = num_windows(batchify(encode_splits(corpus, tokenizer)["train"], 4), 10)
    assert result.status == "finished" and result.steps == 2 * steps_per_epoch
    assert len(result.metrics["curve"]) > 6


@pytest.mark.parametrize("where", ["mid_log_window", "end_of_epoch", "second_epoch"])
def test_stop_and_resume_reproduces_the_uninterrupted_run(tmp_path, setting, uninterrupted, where):
    corpus, tokenizer = setting
    steps_per_epoch = num_windows(batchify(encode_splits(corpus, tokenizer)["train"], 4), 10)
    stop_at = {"mid_log_window": 3, "end_of_epoch": steps_per_epoch, "second_epoch": steps_per_epoch + 6}[where]
    out = str(tmp_path / "run")
    stopped = train(_config(out, tokenizer), corpus, tokenizer, should_stop=_stop_after(stop_at))
    assert stopped.status == "stopped" and stopped.steps == stop_at
    assert json.load(open(os.path.join(out, "resume", "state.json")))["step"] == stop_at
    # The config passed on resume is ignored but for `out`: the saved one wins.
    other = _config(out, tokenizer)
    other.lr, other.seed = 1.0, 99
    resumed = train(other, corpus, tokenizer, resume=out)
    assert resumed.status == "finished"
    _assert_same_run(*uninterrupted, out, resumed)


def test_two_interruptions(tmp_path, setting, uninterrupted):
    corpus, tokenizer = setting
    out = str(tmp_path / "run")
    assert train(_config(out, tokenizer), corpus, tokenizer, should_stop=_stop_after(5)).steps == 5
    assert train(_config(out, tokenizer), corpus, tokenizer, resume=out, should_stop=_stop_after(9)).steps == 14
    resumed = train(_config(out, tokenizer), corpus, tokenizer, resume=out)
    _assert_same_run(*uninterrupted, out, resumed)


def test_resume_from_a_state_whose_save_died_mid_swap(tmp_path, setting, uninterrupted, monkeypatch):
    corpus, tokenizer = setting
    out = str(tmp_path / "run")
    train(_config(out, tokenizer), corpus, tokenizer, should_stop=_stop_after(6))
    resume_dir = os.path.join(out, "resume")
    saved_rng = load_file(os.path.join(resume_dir, "state.safetensors"))["rng.torch"]

    # A later snapshot dies between its renames: resume/ is gone, resume.previous/ holds the last good state.
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if str(dst) == resume_dir:
            raise OSError("simulated crash")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    for _ in range(2):  # a second crash at the same point must not delete the last good state
        with pytest.raises(OSError, match="simulated crash"):
            resume_module.save_resume_state(out, _dummy_model(tokenizer), _dummy_optimizer(), None, {"step": -1})
    monkeypatch.undo()
    assert not os.path.exists(resume_dir)
    assert find_resume_state(out) == resume_dir + ".previous"
    assert json.load(open(os.path.join(resume_dir + ".previous", "state.json")))["step"] == 6
    assert torch.equal(load_file(os.path.join(resume_dir + ".previous", "state.safetensors"))["rng.torch"], saved_rng)
    resumed = train(_config(out, tokenizer), corpus, tokenizer, resume=out)
    _assert_same_run(*uninterrupted, out, resumed)


def _dummy_model(tokenizer):
    from model.core.language_model import LanguageModel

    return LanguageModel(
        ModelConfig(arch="gru", vocab_size=tokenizer.vocab_size, embedding_size=4, hidden_size=4, decoder="full")
    )


def _dummy_optimizer():
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)


def test_resume_without_state_names_the_folder(tmp_path, setting):
    corpus, tokenizer = setting
    with pytest.raises(FileNotFoundError, match="No resumable state under .*--out"):
        train(_config(str(tmp_path / "x"), tokenizer), corpus, tokenizer, resume=str(tmp_path / "x"))


# ------------------------------------------------------------------ the real CLI in a subprocess
def _write_corpus(folder) -> str:
    folder.mkdir()
    for split, count, seed in (("train", 60, 0), ("valid", 12, 1), ("test", 12, 2)):
        (folder / f"{split}.txt").write_text("\n\n".join(paragraphs(count, seed)) + "\n", encoding="utf-8")
    return str(folder)


def _cli(corpus: str, out: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "model.train",
        "--corpus-dir",
        corpus,
        "--out",
        out,
        "--arch",
        "gru",
        "--embedding-size",
        "8",
        "--hidden-size",
        "8",
        "--decoder",
        "full",
        "--min-frequency",
        "1",
        "--batch-size",
        "4",
        "--bptt",
        "10",
        "--threads",
        "1",
        "--no-progress",
        "--log-every",
        "1",
        "--save-every",
        "0.001",
        *extra,
    ]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _wait_for(predicate, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"training exited early with {process.returncode}: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out waiting for training to make progress")
        time.sleep(0.02)


def _state(out: str) -> dict | None:
    try:
        with open(os.path.join(out, "resume", "state.json"), encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, ValueError):
        return None  # not written yet, or mid-swap


def _resume_in_process(corpus: str, out: str, capsys) -> str:
    """`--resume` through the same CLI entry point, in this process (saves a second interpreter start)."""
    from model.cli.train import main

    assert main(_cli(corpus, out, "--resume")[3:]) == 0
    return capsys.readouterr().out


@pytest.mark.slow
def test_sigterm_saves_state_and_resume_completes(tmp_path, capsys):
    corpus, out = _write_corpus(tmp_path / "corpus"), str(tmp_path / "out")
    process = subprocess.Popen(
        _cli(corpus, out, "--epochs", "6"),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: bool((_state(out) or {}).get("curve")), process)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "interrupted:SIGTERM" in stdout
    assert f"Continue with: python -m model.train --resume --out {out}" in stdout
    assert "Traceback" not in stderr
    stopped_at = _state(out)["step"]

    printed = _resume_in_process(corpus, out, capsys)
    assert printed.startswith("finished:")
    checkpoint = load_checkpoint(out)
    assert checkpoint.config.arch == "gru"
    assert checkpoint.metrics["status"] == "finished"
    total = checkpoint.metrics["total_steps_trained"]
    assert 0 < stopped_at < total
    assert len(checkpoint.metrics["validation"]) == 6
    # --log-every 1: one curve point per step, none lost or repeated across the interruption.
    assert [point["step"] for point in checkpoint.metrics["curve"]] == list(range(1, total + 1))


@pytest.mark.slow
def test_kill_9_leaves_a_loadable_checkpoint_and_resume_continues(tmp_path, capsys):
    corpus, out = _write_corpus(tmp_path / "corpus"), str(tmp_path / "out")
    process = subprocess.Popen(
        _cli(corpus, out, "--epochs", "12"),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Wait for the first best checkpoint (end of epoch 1), then kill while training goes on
    # (snapshots every few steps, so the kill may well land in the middle of a save).
    _wait_for(
        lambda: os.path.exists(os.path.join(out, "metrics.json")) and (_state(out) or {}).get("epoch", 0) >= 1, process
    )
    process.kill()  # SIGKILL: no handler, no clean-up
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    with open(os.path.join(find_resume_state(out), "state.json"), encoding="utf-8") as stream:
        killed_at = json.load(stream)["step"]

    checkpoint = load_checkpoint(out)  # whatever instant the kill hit
    with torch.no_grad():
        logits, _ = checkpoint.model(torch.tensor([[checkpoint.tokenizer.eos_id]]))
    assert torch.isfinite(logits).all()

    assert _resume_in_process(corpus, out, capsys).startswith("finished:")
    final = load_checkpoint(out)
    assert final.metrics["status"] == "finished"
    assert final.metrics["total_steps_trained"] > killed_at
    assert len(final.metrics["validation"]) == 12
