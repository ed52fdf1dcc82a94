"""Background training for the Train tab: one thread per job, a stop flag, a time limit, a liveness check.

Training runs in a daemon thread of the server process through
``model.training.train`` (its ``should_stop`` and ``on_log`` callbacks), so the
page stays responsive and other sessions keep working. A job stops by itself
when (a) its Stop button is pressed, (b) its time limit is reached, or (c) the
browser session that started it is gone (closed tab): checked through
Streamlit's runtime, and through a heartbeat the page refreshes every few
seconds. At most one job runs per process, since the machine's cores are shared.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from data.corpus import Corpus
from data.leftovers import claim_output, release_output
from data.tokenizer import WordTokenizer
from model.core.config import ModelConfig
from model.training.loop import TrainConfig, train
from ui.services.jobs import REGISTRY

LOGGER = logging.getLogger("memory_lab.training")
HEARTBEAT_TIMEOUT_S = 120.0


@dataclass
class TrainingJob:
    """One training request: several architectures trained one after another on one corpus.

    Attributes:
        session_id: the Streamlit session that started it.
        outputs: arch -> checkpoint folder.
        time_limit_s: the whole job's wall-clock budget.
        epochs: passes over the corpus per model.
        records: the on_log records, each with "arch" added (the live curve).
        status: "running", then "finished", "stopped", "time limit" or "failed".
        finished_archs: architectures whose checkpoint is complete.
    """

    session_id: str
    corpus: Corpus | None
    outputs: dict[str, str]
    model_settings: dict[str, Any]
    train_settings: dict[str, Any]
    time_limit_s: float
    epochs: int
    started: float = field(default_factory=time.monotonic)
    heartbeat: float = field(default_factory=time.monotonic)
    records: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"
    message: str = ""
    current_arch: str | None = None
    finished_archs: list[str] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    announced: bool = False
    tokenizer: WordTokenizer | None = None  # the shared vocabulary, built before the thread starts

    @property
    def running(self) -> bool:
        """True until the job has finished, stopped or failed."""
        return self.status == "running"

    def progress(self) -> float:
        """Share done in [0, 1]: by epochs of the current model or by the time limit, whichever is further."""
        if not self.running:
            return 1.0
        count = len(self.outputs)
        done = len(self.finished_archs)
        epoch = max((r["epoch"] for r in self.records if r.get("arch") == self.current_arch), default=0.0)
        by_epochs = (done + min(epoch / self.epochs, 1.0)) / count
        by_time = (time.monotonic() - self.started) / self.time_limit_s
        return float(min(1.0, max(by_epochs, by_time)))

    def touch(self) -> None:
        """The page is still watching (called on every draw of the progress panel)."""
        self.heartbeat = time.monotonic()


def job_for(session_id: str) -> TrainingJob | None:
    """This session's latest training job, if any."""
    return REGISTRY.latest("train", session_id)


def running_elsewhere(session_id: str) -> TrainingJob | None:
    """A running training job started by another session (only one job may run at a time)."""
    return next((job for _, sid, job in REGISTRY.running("train") if sid != session_id), None)


def _session_alive(session_id: str) -> bool:
    try:
        from streamlit.runtime import Runtime  # inside the try: a private module that may move between versions

        if Runtime.exists():
            return Runtime.instance().is_active_session(session_id)
    except Exception:  # noqa: BLE001 - no runtime (tests, bare mode): rely on the heartbeat
        LOGGER.debug("no Streamlit runtime to ask about session %s", session_id)
    return True


def stop_reason(job: TrainingJob) -> str | None:
    if job.stop_event.is_set():
        return "stopped"
    if time.monotonic() - job.started >= job.time_limit_s:
        return "time limit"
    if time.monotonic() - job.heartbeat > HEARTBEAT_TIMEOUT_S or not _session_alive(job.session_id):
        return "stopped (the page was closed)"
    return None


def _run(job: TrainingJob, tokenizer: WordTokenizer) -> None:
    reason: str | None = None
    try:
        for arch, out in job.outputs.items():
            job.current_arch = arch
            remaining_minutes = max(0.05, (job.time_limit_s - (time.monotonic() - job.started)) / 60)
            share = remaining_minutes / (len(job.outputs) - len(job.finished_archs))
            settings = dict(job.model_settings)
            # A full softmax is fine for a small vocabulary; the adaptive one needs cut-offs below its size.
            settings.setdefault("decoder", "full" if tokenizer.vocab_size <= 10000 else "adaptive")
            config = TrainConfig(
                out=out,
                model=ModelConfig(arch=arch, vocab_size=tokenizer.vocab_size, **settings),
                epochs=job.epochs,
                time_limit_minutes=share,
                progress=False,
                threads=None,
                command=["streamlit", "app.py", "Train tab"],
                **job.train_settings,
            )

            def on_log(record: dict[str, Any], arch: str = arch) -> None:
                job.records.append(dict(record, arch=arch))

            def should_stop() -> bool:
                nonlocal reason
                reason = reason or stop_reason(job)
                return reason is not None

            # The folder records this server as its writer until the run ends: if the server is killed
            # first, the next discovery (ui/services/model_store.py) sees a dead writer and frees the name.
            claim_output(out)
            try:
                train(config, job.corpus, tokenizer, should_stop=should_stop, on_log=on_log)
            finally:
                release_output(out)
            if os.path.isfile(os.path.join(out, "config.json")):
                job.finished_archs.append(arch)
            else:
                # Stopped before the first checkpoint: leave no half-made folder in the picker.
                shutil.rmtree(out, ignore_errors=True)
            if reason is not None:
                break
        job.status = "finished" if reason is None else reason
        job.message = f"Saved {len(job.finished_archs)} model(s)."
    except Exception as error:  # noqa: BLE001 - reported on the page, traceback to the console
        LOGGER.error("training job failed:\n%s", traceback.format_exc())
        job.status = "failed"
        job.message = f"{type(error).__name__}: {error}"
    finally:
        job.corpus = None  # the finished job stays listed for its page; its text need not


def start_job(
    session_id: str,
    corpus: Corpus,
    outputs: dict[str, str],
    model_settings: dict[str, Any],
    train_settings: dict[str, Any],
    time_limit_s: float,
    epochs: int,
    min_frequency: int = 1,
    max_vocab: int = 20000,
    runner: Callable[[TrainingJob, WordTokenizer], None] = _run,
) -> TrainingJob:
    """Build the shared vocabulary and start training in a daemon thread.

    Args:
        session_id: the starting session (its departure stops the job).
        corpus: train (and valid) paragraphs.
        outputs: arch -> checkpoint folder to write.
        model_settings: ModelConfig fields other than arch and vocab_size.
        train_settings: TrainConfig fields (batch_size, bptt, lr, clip, ...).
        time_limit_s: wall-clock budget for all models together.
        epochs: passes over the corpus per model.
        min_frequency, max_vocab: vocabulary settings.

    Returns:
        The running :class:`TrainingJob`.

    Raises:
        RuntimeError: when another job (training or the lab) is already running in this server.
    """

    def make() -> TrainingJob:
        tokenizer = WordTokenizer.train(corpus.splits["train"], min_frequency=min_frequency, max_size=max_vocab)
        return TrainingJob(
            session_id=session_id,
            corpus=corpus,
            outputs=outputs,
            model_settings=model_settings,
            train_settings=train_settings,
            time_limit_s=time_limit_s,
            epochs=epochs,
            tokenizer=tokenizer,
        )

    job = REGISTRY.start("train", session_id, make, lambda job: runner(job, job.tokenizer))
    return job
