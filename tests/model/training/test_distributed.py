"""torchrun with 2 CPU processes (gloo) trains like 1 process with the same global batch, and resumes at 1.

Why dropout 0: each rank draws its own dropout masks for its half of the rows
(model/training/distributed.py seeds every rank differently), while one process draws
masks for all rows from one stream. With dropout > 0 both runs are valid but
different samples; with dropout 0 the only difference left is the order in
which floating-point sums are taken (DDP averages two half-batch gradients),
so the curves agree to allclose, not bit for bit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file
from text_fixtures import ROOT, write_corpus

from model.cli.train import main

EPOCHS = 3


def _flags(corpus: str, out: str, *extra: str) -> list[str]:
    return [
        "--corpus-dir",
        corpus,
        "--out",
        out,
        "--arch",
        "lstm",
        "--embedding-size",
        "8",
        "--hidden-size",
        "8",
        "--decoder",
        "full",
        "--dropout",
        "0",
        "--min-frequency",
        "1",
        "--batch-size",
        "4",
        "--bptt",
        "10",
        "--epochs",
        str(EPOCHS),
        "--threads",
        "1",
        "--no-progress",
        "--log-every",
        "1",
        "--stream",
        "off",
        *extra,
    ]


def _torchrun(flags: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "model.train",
        *flags,
    ]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> str:
    return write_corpus(tmp_path_factory.mktemp("corpus"), train=60, valid=10, test=10)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, corpus):
    """The reference: the same flags in this one process."""
    out = str(tmp_path_factory.mktemp("one") / "run")
    assert main(_flags(corpus, out)) == 0
    return out


def _metrics(out: str) -> dict:
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as stream:
        return json.load(stream)


def _assert_same_training(out_a: str, out_b: str) -> None:
    metrics_a, metrics_b = _metrics(out_a), _metrics(out_b)
    curve_a, curve_b = metrics_a["curve"], metrics_b["curve"]
    assert [point["step"] for point in curve_a] == [point["step"] for point in curve_b]
    assert len(curve_a) == metrics_a["total_steps_trained"] > 30  # one point per step (--log-every 1)
    for key in ("train_loss", "grad_norm_mean", "lr"):
        assert torch.allclose(
            torch.tensor([p[key] for p in curve_a]), torch.tensor([p[key] for p in curve_b]), atol=2e-4
        ), key
    # The curve really moves, so agreeing on it means something.
    assert curve_a[0]["train_loss"] - curve_a[-1]["train_loss"] > 0.3
    assert metrics_a["valid_loss"] == pytest.approx(metrics_b["valid_loss"], abs=1e-4)
    state_a = load_file(os.path.join(out_a, "resume", "state.safetensors"))
    state_b = load_file(os.path.join(out_b, "resume", "state.safetensors"))
    for name in (n for n in state_a if n.startswith("model.")):
        assert torch.allclose(state_a[name], state_b[name], atol=1e-4, rtol=1e-3), name


@pytest.mark.distributed
@pytest.mark.slow
def test_two_processes_follow_the_one_process_loss_curve(tmp_path, corpus, one_process):
    out = str(tmp_path / "two")
    done = subprocess.run(
        _torchrun(_flags(corpus, out)), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("finished:") == 1  # rank 0 alone reports
    metrics = _metrics(out)
    assert metrics["world_size"] == 2 and metrics["status"] == "finished"
    # The global batch, not each rank's half, is what the run recorded and trained on.
    assert metrics["train_config"]["batch_size"] == 4
    assert metrics["tokens"] == _metrics(one_process)["tokens"]
    _assert_same_training(out, one_process)


@pytest.mark.distributed
@pytest.mark.slow
def test_a_run_interrupted_at_two_processes_resumes_at_one(tmp_path, corpus, one_process, capsys):
    out = str(tmp_path / "two-then-one")
    state_path = os.path.join(out, "resume", "state.json")
    process = subprocess.Popen(
        _torchrun(_flags(corpus, out, "--save-every", "0.001")),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while True:
        try:
            with open(state_path, encoding="utf-8") as stream:
                if json.load(stream).get("curve"):
                    break
        except (OSError, ValueError):
            pass  # not written yet, or mid-swap
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "torchrun made no progress"
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)  # torchrun passes it on to both ranks
    stdout, stderr = process.communicate(timeout=120)
    assert "interrupted:SIGTERM" in stdout, stderr[-3000:]
    with open(state_path, encoding="utf-8") as stream:
        stopped_at = json.load(stream)["step"]
    total = _metrics(one_process)["total_steps_trained"]
    assert 0 < stopped_at < total
    # World-size independent: the carried hidden state holds all 4 global rows, not one rank's 2.
    state = load_file(os.path.join(out, "resume", "state.safetensors"))
    assert state["hidden.0"].shape == (1, 4, 8) and state["hidden.1"].shape == (1, 4, 8)

    assert main(_flags(corpus, out, "--resume")) == 0  # one process now
    assert capsys.readouterr().out.startswith("finished:")
    assert _metrics(out)["total_steps_trained"] == total
    _assert_same_training(out, one_process)


# ------------------------------------------------------------------ the helpers, without a process group
def test_rank_info_reads_torchrun_variables(monkeypatch):
    from model.training.distributed import RankInfo, rank_info, setup

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert rank_info() == RankInfo() and rank_info().is_main and not rank_info().is_distributed
    assert setup(torch.device("cpu")) == (RankInfo(), torch.device("cpu"), False)  # one process: no process group
    assert not torch.distributed.is_initialized()
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert rank_info() == RankInfo(rank=3, world_size=4, local_rank=1) and not rank_info().is_main
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match="need 0 <= RANK < WORLD_SIZE"):
        rank_info()
    monkeypatch.setenv("RANK", "first")
    with pytest.raises(ValueError, match="must be integers"):
        rank_info()


def test_each_rank_takes_a_contiguous_block_of_the_global_rows():
    from model.training.distributed import RankInfo, shard_rows, shard_state

    rows = torch.arange(4 * 6).view(4, 6)  # [B=4, S=6]
    blocks = [shard_rows(rows, RankInfo(rank=r, world_size=2)) for r in range(2)]
    assert torch.equal(torch.cat(blocks), rows) and blocks[1][0, 0] == 12
    hidden, cell = torch.randn(2, 4, 3), torch.randn(2, 4, 3)  # LSTM state [L, B, H]
    h1, c1 = shard_state((hidden, cell), RankInfo(rank=1, world_size=2))
    assert torch.equal(h1, hidden[:, 2:]) and torch.equal(c1, cell[:, 2:])
    assert shard_state(hidden, RankInfo()) is hidden
