"""Failure 8: leftovers of a kill -9, and private permissions after the final metrics rewrite.

`.NAME.saving-*` and `.resume.saving-*` folders from a killed save stayed forever; a server killed
during a Train-tab run left an empty output folder that blocked the name; the final metrics
rewrite used mkstemp, so metrics.json ended up 0600 and resume/ 0700. Now a leftover is removed by
the next save or start when its writer is dead (or, for a name without a writer, when nothing in it
changed for a minute), never while another live process is still writing it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from robustness_helpers import ROOT, copy_checkpoint

import data.leftovers as leftovers
from data.corpus import load_local
from data.tokenizer import WordTokenizer
from model.core.checkpoint import load_checkpoint, save_checkpoint, staging_prefix
from model.core.config import ModelConfig
from model.core.resume_state import RESUME_STAGING_PREFIX
from model.training.loop import TrainConfig, train

# A child that starts a real save and blocks inside it (after the staging folder exists), then waits to be killed.
BLOCKED_SAVE = """
import sys, time
import model.core.checkpoint as checkpoint
import model.core.resume_state as resume_state
from model.core.checkpoint import load_checkpoint
def block(*args, **kwargs):
    print("saving", flush=True)
    time.sleep(600)
checkpoint.save_file = block
resume_state.save_file = block
source = load_checkpoint(sys.argv[1])
if sys.argv[3] == "checkpoint":
    checkpoint.save_checkpoint(sys.argv[2], source.model, source.tokenizer, {})
else:
    import torch
    resume_state.save_resume_state(sys.argv[2], source.model, torch.optim.SGD(source.model.parameters(), lr=1.0), None, {})
"""


def _blocked_save(source: str, target: str, kind: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", BLOCKED_SAVE, source, target, kind],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1"),
        text=True,
    )
    assert process.stdout.readline().strip() == "saving"
    return process


def _staging(parent: str, prefix: str) -> list[str]:
    return sorted(name for name in os.listdir(parent) if name.startswith(prefix))


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


@pytest.mark.slow
def test_a_killed_checkpoint_save_is_cleaned_up_by_the_next_save(tmp_path, tiny_checkpoints):
    target = copy_checkpoint(tiny_checkpoints["rnn"], str(tmp_path / "model"))
    dead = _blocked_save(tiny_checkpoints["rnn"], target, "checkpoint")
    _kill(dead)  # kill -9 mid-save
    leftover = _staging(str(tmp_path), staging_prefix(target))
    assert len(leftover) == 1 and f"-{dead.pid}." in leftover[0]
    live = _blocked_save(
        tiny_checkpoints["rnn"], target, "checkpoint"
    )  # another process's save: it cleans the dead one's up
    try:
        in_progress = _staging(str(tmp_path), staging_prefix(target))
        assert len(in_progress) == 1 and f"-{live.pid}." in in_progress[0]
        source = load_checkpoint(tiny_checkpoints["rnn"])
        save_checkpoint(target, source.model, source.tokenizer, {"note": "next save"})
        assert _staging(str(tmp_path), staging_prefix(target)) == in_progress  # the live save is untouched
        assert load_checkpoint(target).metrics["note"] == "next save"
    finally:
        _kill(live)
    save_checkpoint(target, source.model, source.tokenizer, {"note": "after the second kill"})
    assert _staging(str(tmp_path), staging_prefix(target)) == []


@pytest.mark.slow
def test_a_killed_resume_save_is_cleaned_up_when_training_starts(tmp_path, tiny_checkpoints, corpus_dir):
    out = str(tmp_path / "run")
    os.makedirs(out)
    _kill(_blocked_save(tiny_checkpoints["gru"], out, "resume"))
    assert len(_staging(out, RESUME_STAGING_PREFIX)) == 1
    corpus = load_local(folder=corpus_dir)
    tokenizer = WordTokenizer.train(corpus.splits["train"], min_frequency=1)
    config = TrainConfig(
        out=out,
        model=ModelConfig(arch="rnn", vocab_size=tokenizer.vocab_size, embedding_size=8, hidden_size=8, decoder="full"),
        batch_size=8,
        bptt=10,
        epochs=1,
        progress=False,
        threads=1,
        command=["pytest"],
    )
    train(config, corpus, tokenizer, should_stop=lambda: True)
    assert _staging(out, RESUME_STAGING_PREFIX) == []


def test_a_staging_folder_without_a_writer_is_removed_only_after_a_minute_of_silence(tmp_path, tiny_checkpoints):
    target = copy_checkpoint(tiny_checkpoints["lstm"], str(tmp_path / "model"))
    old, fresh = (
        tmp_path / f"{staging_prefix(target)}{suffix}" for suffix in ("abc12345", "xyz67890")
    )  # names of the old code
    for folder in (old, fresh):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"partial")
    long_ago = time.time() - 2 * leftovers.STALE_AFTER_S
    for path in (old / "model.safetensors", old):
        os.utime(path, (long_ago, long_ago))
    source = load_checkpoint(target)
    save_checkpoint(target, source.model, source.tokenizer, {})
    assert not old.exists() and fresh.exists()


def test_a_reused_pid_does_not_keep_a_leftover_alive():
    me = leftovers.this_writer()
    assert leftovers.is_running(me)
    assert not leftovers.is_running(leftovers.Writer(os.getppid(), me.start_ticks + 10**9)) or me.start_ticks == 0
    assert not leftovers.is_running(leftovers.Writer(2**22 + 12345, 1))  # beyond pid_max


def test_an_output_folder_of_a_killed_train_tab_run_does_not_block_the_name(models_root):
    import ui.services.model_store as model_store
    from ui.views import train as view_train

    folder = os.path.join(models_root, "class-lstm")
    claim = "import sys, time; from data.leftovers import claim_output; claim_output(sys.argv[1]); print('claimed', flush=True); time.sleep(600)"
    server = subprocess.Popen(
        [sys.executable, "-c", claim, folder],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )
    try:
        assert server.stdout.readline().strip() == "claimed"
        entries = {entry.name: entry for entry in model_store.discover(models_root)}
        assert entries["class-lstm"].error.startswith("training in progress")  # a live run keeps its folder
        with pytest.raises(ValueError, match="already exist"):
            view_train._outputs(models_root, "class", ["lstm"])
    finally:
        _kill(server)  # the server dies mid-run: kill -9
    entries = {entry.name: entry for entry in model_store.discover(models_root)}
    assert "class-lstm" not in entries and not os.path.exists(folder)
    assert view_train._outputs(models_root, "class", ["lstm"]) == {"lstm": folder}


def test_folders_without_a_writer_record_are_never_removed(models_root):
    import ui.services.model_store as model_store

    cli_run = os.path.join(models_root, "cli-run")  # e.g. `model.train --out` before its first checkpoint
    os.makedirs(cli_run)
    entries = {entry.name: entry for entry in model_store.discover(models_root)}
    assert not entries["cli-run"].ok and os.path.isdir(cli_run)


def test_the_train_tab_records_and_then_drops_its_writer(tmp_path, corpus_dir):
    from ui.services import training_jobs

    corpus = load_local(folder=corpus_dir)
    out = str(tmp_path / "tab-rnn")
    seen = []
    real_train = training_jobs.train

    def watching_train(config, *args, **kwargs):
        seen.append(os.path.isfile(os.path.join(config.out, leftovers.WRITER_FILE)))
        return real_train(config, *args, **kwargs)

    training_jobs.train = watching_train
    try:
        job = training_jobs.start_job(
            "pytest-session",
            corpus,
            {"rnn": out},
            {"embedding_size": 8, "hidden_size": 8, "decoder": "full"},
            {"batch_size": 8, "bptt": 10},
            time_limit_s=60,
            epochs=1,
        )
        job.thread.join(timeout=300)
    finally:
        training_jobs.train = real_train
    assert job.status == "finished", job.message
    assert seen == [True] and not os.path.exists(os.path.join(out, leftovers.WRITER_FILE))
    load_checkpoint(out)


@pytest.mark.parametrize("umask, file_mode, folder_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_the_final_metrics_rewrite_keeps_the_umask_modes(tmp_path, corpus_dir, umask, file_mode, folder_mode):
    corpus = load_local(folder=corpus_dir)
    tokenizer = WordTokenizer.train(corpus.splits["train"], min_frequency=1)
    out = str(tmp_path / "run")
    config = TrainConfig(
        out=out,
        model=ModelConfig(arch="rnn", vocab_size=tokenizer.vocab_size, embedding_size=8, hidden_size=8, decoder="full"),
        batch_size=8,
        bptt=10,
        epochs=1,
        progress=False,
        threads=1,
        command=["pytest"],
    )
    previous = os.umask(umask)
    try:
        result = train(config, corpus, tokenizer)
    finally:
        os.umask(previous)
    assert result.status == "finished" and "test_ppl" in load_checkpoint(out).metrics  # the final rewrite happened
    assert os.stat(os.path.join(out, "metrics.json")).st_mode & 0o777 == file_mode
    assert os.stat(os.path.join(out, "resume")).st_mode & 0o777 == folder_mode
    for name in os.listdir(os.path.join(out, "resume")):
        assert os.stat(os.path.join(out, "resume", name)).st_mode & 0o777 == file_mode, name
    assert os.stat(out).st_mode & 0o777 == folder_mode
