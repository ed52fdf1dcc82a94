"""Train view: a background run on the built-in text appears in the picker; bad uploads are refused."""

from __future__ import annotations

import os
import time

import pytest
from app_helpers import chart_titled, exception_free, open_app

from ui.services import training_jobs
from ui.services.jobs import REGISTRY


@pytest.fixture
def no_jobs():
    REGISTRY.forget()
    yield
    for job in REGISTRY.jobs("train"):
        job.stop_event.set()
        if job.thread is not None:
            job.thread.join(timeout=60)
    REGISTRY.forget()


def _wait(job, seconds: float = 120.0) -> None:
    job.thread.join(timeout=seconds)
    assert not job.thread.is_alive(), "training did not stop in time"


def test_training_in_the_background_adds_a_model(app_models, no_jobs, monkeypatch):
    # A smaller built-in text keeps the test fast; the view itself is unchanged.
    from data import builtin_corpus
    from ui.views import train as view_train

    small = builtin_corpus.builtin_corpus(train=300, valid=40, test=40)
    monkeypatch.setattr(view_train, "builtin_corpus", lambda: small)
    at = exception_free(open_app("Train"))
    at.text_input(key="train_name").set_value("class-demo")
    at.multiselect(key="train_archs").set_value(["rnn", "gru"])
    at.select_slider(key="train_hidden").set_value(32)
    at.slider(key="train_epochs").set_value(1)
    at.button(key="train_start").click().run()
    assert not at.exception
    job = REGISTRY.jobs("train")[0]
    _wait(job)
    assert job.status == "finished", job.message
    at.run()
    exception_free(at)
    assert {"class-demo-rnn", "class-demo-gru"} <= set(at.multiselect(key="models").options)
    assert os.path.isfile(os.path.join(app_models, "class-demo-gru", "model.safetensors"))
    curve = chart_titled(at, "Training loss, live")["data"]
    assert set(curve["arch"]) == {"rnn", "gru"} and curve["train_loss"].gt(0).all()
    assert any("Training finished" in success.value for success in at.success)


def test_names_are_checked_and_nothing_is_overwritten(app_models, no_jobs):
    at = open_app("Train")
    at.text_input(key="train_name").set_value("tiny")
    at.button(key="train_start").click().run()
    exception_free(at)
    assert any("tiny-lstm already exist" in error.value for error in at.error)
    at.text_input(key="train_name").set_value("../escape")
    at.button(key="train_start").click().run()
    assert any("is not allowed" in error.value for error in at.error)
    assert not REGISTRY.jobs("train")


def test_binary_upload_is_refused(app_models, no_jobs):
    at = open_app("Train", train_source="Upload a .txt file")
    at.file_uploader(key="train_upload").set_value(
        ("model.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR" * 50, "text/plain")
    )
    at.run()
    at.button(key="train_start").click().run()
    exception_free(at)
    assert any("looks like a binary file" in error.value for error in at.error)
    assert not REGISTRY.jobs("train")


def test_stop_flag_time_limit_and_closed_page_stop_a_job(app_models, no_jobs):
    from data.builtin_corpus import builtin_corpus

    corpus = builtin_corpus(train=2000, valid=20, test=20)
    out = os.path.join(app_models, "stopped-lstm")
    job = training_jobs.start_job(
        "session-a",
        corpus,
        {"lstm": out},
        {"embedding_size": 16, "hidden_size": 16},
        {"batch_size": 8, "bptt": 10, "log_every": 1},
        time_limit_s=600,
        epochs=5,
    )
    with pytest.raises(RuntimeError, match="A model is being trained on this server"):
        training_jobs.start_job("session-b", corpus, {"lstm": out + "2"}, {}, {}, time_limit_s=60, epochs=1)
    # Stop right after the first curve point: long before the first epoch (and its checkpoint) ends,
    # however fast the machine is.
    deadline = time.monotonic() + 60
    while not job.records and time.monotonic() < deadline:
        time.sleep(0.005)
    job.stop_event.set()
    _wait(job)
    assert job.status == "stopped"
    assert not os.path.exists(out)  # stopped before its first checkpoint: no half-made folder left behind

    stale = training_jobs.TrainingJob("gone", corpus, {}, {}, {}, time_limit_s=600, epochs=1)
    stale.heartbeat -= training_jobs.HEARTBEAT_TIMEOUT_S + 1
    assert training_jobs.stop_reason(stale) == "stopped (the page was closed)"
    late = training_jobs.TrainingJob("late", corpus, {}, {}, {}, time_limit_s=0.0, epochs=1)
    assert training_jobs.stop_reason(late) == "time limit"
