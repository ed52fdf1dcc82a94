"""Train: a small RNN, LSTM or GRU on an uploaded text or the built-in one, with a live loss curve."""

from __future__ import annotations

import os
import re

import altair as alt
import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from data.builtin_corpus import builtin_corpus
from ui.page_context import Context
from ui.services import training_jobs
from ui.services.uploaded_corpus import MAX_UPLOAD_MB, corpus_from_upload
from ui.widgets.charts import show_chart
from ui.widgets.markup import md

NAME_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
BUILTIN = "Built-in patterned text (generated, about 60,000 words)"
UPLOAD = "Upload a .txt file"
CLIP = 0.5  # the global gradient-norm threshold of a Train-tab run (the shipped models used the same)


def session_id() -> str:
    """This browser session's id (the training job is tied to it)."""
    context = get_script_run_ctx()
    return context.session_id if context is not None else "no-session"


def _outputs(root: str, name: str, archs: list[str]) -> dict[str, str]:
    if not NAME_RULE.match(name):
        raise ValueError(
            f"The model name {name!r} is not allowed: use 1 to 40 letters, digits, '-' or '_', starting with a letter or digit."
        )
    outputs = {arch: os.path.join(root, f"{name}-{arch}") for arch in archs}
    taken = [os.path.basename(path) for path in outputs.values() if os.path.exists(path)]
    if taken:
        raise ValueError(
            f"{', '.join(taken)} already exist(s) in {root}; choose another name (nothing is overwritten)."
        )
    return outputs


def _form(context: Context) -> None:
    source = st.radio("Training text", [BUILTIN, UPLOAD], key="train_source", horizontal=True)
    upload = None
    if source == UPLOAD:
        upload = st.file_uploader(
            "Text file (UTF-8, empty lines between paragraphs)",
            type=["txt"],
            key="train_upload",
            max_upload_size=MAX_UPLOAD_MB,
        )
    left, right = st.columns(2)
    archs = left.multiselect(
        "Architectures",
        ["rnn", "lstm", "gru"],
        default=["lstm"],
        key="train_archs",
        format_func=str.upper,
        help="Each is trained in turn, all with one shared vocabulary.",
    )
    name = left.text_input("Model name", value="my-model", key="train_name", help="Saved as checkpoints/NAME-ARCH.")
    hidden_size = right.select_slider("Hidden size (units)", [32, 64, 128, 256], value=64, key="train_hidden")
    minutes = right.slider("Time limit (minutes, all models together)", 0.5, 10.0, 2.0, 0.5, key="train_minutes")
    epochs = right.slider("Passes over the text (epochs)", 1, 20, 3, key="train_epochs")
    # Short: in presenter type "Clip gradients (global norm ≤ 0.5)" was cut before its number.
    clip = right.toggle(
        f"Clip gradients at {CLIP:g}",
        value=True,
        key="train_clip",
        help=f"When the global L2 norm of the gradient of all weights is above {CLIP:g}, scale it down to {CLIP:g} "
        "before the step: the usual cure for exploding gradients.",
    )
    if not st.button("Start training", type="primary", key="train_start"):
        return
    if not archs:
        st.error("Pick at least one architecture to train.")
        return
    if source == UPLOAD and upload is None:
        st.error("Upload a .txt file first, or choose the built-in text.")
        return
    try:
        outputs = _outputs(context.root, name.strip(), archs)
        corpus = corpus_from_upload(upload.getvalue(), upload.name) if upload is not None else builtin_corpus()
        training_jobs.start_job(
            session_id(),
            corpus,
            outputs,
            model_settings={"embedding_size": hidden_size, "hidden_size": hidden_size, "dropout": 0.1},
            train_settings={
                "batch_size": 32,
                "bptt": 35,
                "lr": 3e-3,
                "clip": CLIP if clip else None,
                "log_every": 10,
                "save_every_minutes": 60.0,
                "eval_batch_size": 16,
                "eval_bptt": 64,
            },
            time_limit_s=minutes * 60,
            epochs=epochs,
            min_frequency=1 if upload is None else 2,
        )
    except (ValueError, RuntimeError) as error:
        st.error(md(str(error)), icon=":material/block:")
        return
    st.rerun()


@st.fragment(run_every=2.0)
def _progress_panel() -> None:
    job = training_jobs.job_for(session_id())
    if job is None:
        return
    job.touch()
    names = ", ".join(md(os.path.basename(path)) for path in job.outputs.values())
    st.progress(
        job.progress(),
        text=f"Training {names}: {job.status}" + (f" ({(job.current_arch or '').upper()})" if job.running else ""),
    )
    if job.records:
        frame = pd.DataFrame(job.records)
        chart = (
            alt.Chart(frame, title="Training loss, live")
            .mark_line(point=True)
            .encode(
                x=alt.X("step:Q", title="training step"),
                y=alt.Y("train_loss:Q", title="cross-entropy (nats per word)"),
                color=alt.Color("arch:N", title="model"),
                tooltip=[
                    "arch",
                    "step",
                    alt.Tooltip("train_loss:Q", format=".3f"),
                    alt.Tooltip("train_ppl:Q", format=".1f"),
                ],
            )
        )
        show_chart(
            chart,
            "Mean training cross-entropy in nats per word over the last 10 steps (log of perplexity). "
            "It starts near ln(vocabulary size), the uniform-guess baseline, and falls as the model learns.",
            key="train_live",
        )
    if job.running:
        if st.button("Stop training", key="train_stop"):
            job.stop_event.set()
            st.toast("Stopping after the current step…")
    else:
        (st.error if job.status == "failed" else st.success)(
            f"Training {md(job.status)}. {md(job.message)} New models are in the sidebar's model list."
        )
        if not job.announced:
            job.announced = True
            st.rerun()  # the whole page, so the picker lists the new folders


def render(context: Context) -> None:
    """Draw the Train view."""
    st.markdown(
        "Train your own small model. It runs in the background on this computer's processor: the other tabs keep "
        "working, the run stops at the time limit, when you press Stop, or when this browser tab is closed. Every "
        "finished model is saved in the checkpoints folder and appears at once in the sidebar."
    )
    job = training_jobs.job_for(session_id())
    other = training_jobs.running_elsewhere(session_id())
    if job is not None and job.running:
        st.info("Training is running; the curve updates every 2 seconds.", icon=":material/model_training:")
    elif other is not None:
        st.info(
            f"Someone else is training a model on this server ({other.progress():.0%} done). Only one training run "
            "at a time: try again when it finishes.",
            icon=":material/hourglass:",
        )
    else:
        _form(context)
    if job is not None:
        _progress_panel()


@st.fragment(run_every=3.0)
def _sidebar_status() -> None:
    job = training_jobs.job_for(session_id())
    if job is None:
        return
    job.touch()  # keeps the run alive while any tab of this page is open
    if job.running:
        st.progress(job.progress(), text=f"Training: {job.progress():.0%}")
    elif not job.announced:
        job.announced = True
        st.rerun()


def sidebar_status() -> None:
    """A small progress bar in the sidebar while this session trains (whatever tab is open)."""
    job = training_jobs.job_for(session_id())
    if job is not None and (job.running or not job.announced):
        _sidebar_status()
