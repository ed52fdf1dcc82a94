"""Long-range lab: train an RNN and an LSTM live and watch accuracy-vs-lag curves form; effective-context chart.

The lab (model/lab.py) runs in a daemon thread of the server process with a stop
flag, so the page stays responsive and other sessions keep working. The page reads
the job's latest curves every 1.5 seconds. Jobs live in a module-level registry keyed
by the browser session, not in st.session_state; at most one lab runs per server
process, and none while a Train-tab job is running (the cores are shared).
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from model.context import ContextResult
from model.lab import LabConfig, LabResult, run_lab
from model.lag_accuracy import LagCurve
from ui import training_jobs
from ui.charts import show_chart
from ui.markup import md
from ui.model_store import ModelEntry, get_checkpoint
from ui.settings import ARCH_COLOURS

LOGGER = logging.getLogger("memory_lab.lab")
HEARTBEAT_TIMEOUT_S = 60.0


@dataclass
class LabJob:
    """One lab run and what the page draws from it.

    Attributes:
        curves: model name -> (training step, accuracy by lag) of its latest measurement.
        chance: lag -> chance accuracy (uniform guess among each cue's closing words).
        status: "running", then "finished", "stopped" or "failed".
        result: the finished run (trained models included) once done.
    """

    session_id: str
    config: LabConfig
    started: float = field(default_factory=time.monotonic)
    heartbeat: float = field(default_factory=time.monotonic)
    curves: dict[str, tuple[int, dict[int, float]]] = field(default_factory=dict)
    chance: dict[int, float] = field(default_factory=dict)
    status: str = "running"
    message: str = ""
    result: LabResult | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return self.status == "running"


_JOBS: dict[str, LabJob] = {}
_LOCK = threading.Lock()


def _session_id() -> str:
    context = get_script_run_ctx()
    return context.session_id if context is not None else "no-session"


def _run(job: LabJob) -> None:
    def on_progress(name: str, step: int, curve: LagCurve) -> None:
        job.curves[name] = (step, dict(curve.accuracy))
        job.chance = dict(curve.chance)

    def should_stop() -> bool:
        # Stop on the button, or when nobody has looked at the page for a while (tab closed).
        return job.stop_event.is_set() or time.monotonic() - job.heartbeat > HEARTBEAT_TIMEOUT_S

    try:
        job.result = run_lab(job.config, on_progress=on_progress, should_stop=should_stop)
        job.status = "stopped" if should_stop() else "finished"
        job.message = f"{len(job.result.runs)} model(s) trained in {job.result.wall_seconds:.0f} s."
    except Exception as error:  # noqa: BLE001 - shown on the page, traceback to the console
        LOGGER.error("lab failed:\n%s", traceback.format_exc())
        job.status, job.message = "failed", f"{type(error).__name__}: {error}"


def start_lab(session_id: str, config: LabConfig) -> LabJob:
    """Start a lab run in a daemon thread for this session.

    Raises:
        RuntimeError: a lab or a training run is already using this server's cores.
    """
    with _LOCK:
        if any(job.running for job in _JOBS.values()):
            raise RuntimeError("A long-range lab is already running on this server; wait until it finishes (about 2 minutes).")
        training = training_jobs.job_for(session_id) or training_jobs.running_elsewhere(session_id)
        if training is not None and training.running:
            raise RuntimeError("A model is being trained on this server (Train tab); start the lab when it has finished.")
        job = LabJob(session_id=session_id, config=config)
        _JOBS[session_id] = job
        threading.Thread(target=_run, args=(job,), name=f"memory-lab-lab-{session_id[:8]}", daemon=True).start()
    return job


def lab_job(session_id: str) -> LabJob | None:
    """This session's latest lab run, if any."""
    with _LOCK:
        return _JOBS.get(session_id)


def curve_frame(curves: dict[str, tuple[int, dict[int, float]]]) -> pd.DataFrame:
    """Rows (model, lag, accuracy, step) for the chart."""
    rows = [{"model": name.upper(), "arch": name, "lag": lag, "accuracy": value, "step": step}
            for name, (step, accuracy) in curves.items() for lag, value in sorted(accuracy.items())]
    return pd.DataFrame(rows, columns=["model", "arch", "lag", "accuracy", "step"])


def accuracy_chart(frame: pd.DataFrame, chance: dict[int, float]) -> alt.LayerChart:
    """Accuracy (0-1) against lag, one line per model, the chance level per lag dashed."""
    names = sorted(frame["model"].unique()) if not frame.empty else []
    colours = [ARCH_COLOURS.get(name.lower(), "#555555") for name in names]
    lines = alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("lag:Q", title="lag: tokens from the cue to the dependent word"),
        y=alt.Y("accuracy:Q", title="accuracy at the dependent word", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("model:N", title="model", scale=alt.Scale(domain=names, range=colours)),
        tooltip=["model", "lag", alt.Tooltip("accuracy:Q", format=".2f"), alt.Tooltip("step:Q", title="training step")],
    )
    chance_frame = pd.DataFrame({"lag": list(chance), "chance": list(chance.values())})
    baseline = alt.Chart(chance_frame).mark_line(strokeDash=[6, 4], color="#777777").encode(
        x="lag:Q", y="chance:Q", tooltip=["lag", alt.Tooltip("chance:Q", format=".2f")])
    return alt.layer(lines, baseline).properties(title="Which closing word does the model expect, as the lag grows?", height=340)


def _chance_words(chance: dict[int, float]) -> str:
    values = sorted({round(value, 2) for value in chance.values()})
    return " to ".join(f"{value:.2f}" for value in (values[0], values[-1])) if len(values) > 1 else f"{values[0]:.2f}"


def _controls(session_id: str) -> None:
    left, right = st.columns(2)
    gru = left.toggle("Also train a GRU", value=False, key="lab_gru", help="Adds about a third to the time.")
    seed = right.number_input("Seed", min_value=0, max_value=9999, value=0, step=1, key="lab_seed",
                              help="Seeds the generated text and the models; the same seed gives the same curves. The RNN's result "
                                   "depends on it: in seven seeds we tried, the RNN stayed near chance at long lags for three "
                                   "(0, 2, 3) and learned to hold the cue in the others; the LSTM learned every time.")
    if not st.button("Start the lab", type="primary", key="lab_start"):
        return
    config = LabConfig(archs=("rnn", "lstm", "gru") if gru else ("rnn", "lstm"), seed=int(seed), threads=None)
    try:
        start_lab(session_id, config)
    except RuntimeError as error:
        st.error(str(error), icon=":material/block:")
        return
    st.rerun()


@st.fragment(run_every=1.5)
def _live_panel(session_id: str) -> None:
    job = lab_job(session_id)
    if job is None:
        return
    job.heartbeat = time.monotonic()
    config = job.config
    steps = ", ".join(f"{name.upper()} step {step}" for name, (step, _) in job.curves.items())
    st.markdown(f"**Status:** {job.status}{' — ' + steps if steps else ''} "
                f"({time.monotonic() - job.started:.0f} s since start)")
    if job.curves:
        show_chart(accuracy_chart(curve_frame(job.curves), job.chance),
                   f"What: accuracy at the dependent word (share of {config.eval_per_lag} held-out sequences per lag, 0 to 1) "
                   f"against the lag (tokens from the cue to the dependent word), for models of {config.hidden_size} hidden "
                   f"units trained on the same generated text with plain SGD (learning rate {config.lr:g}, gradients "
                   f"clipped at norm {config.clip:g}). Method: the model reads the cue and the filler; it is right when it "
                   f"ranks the correct closing word (his after Mr., her after Mrs., ) after ( ...) above the cue's other "
                   f"closing words. Each curve is re-measured every {config.eval_every} training steps. Dashed line: "
                   f"chance, {_chance_words(job.chance)} (a uniform guess: 1/2 for his/her, 1/3 for brackets; lags 1 and "
                   f"2 hold brackets only, since 'Mr. Brown' takes 3 tokens).",
                   key="lab_accuracy")
    if job.running:
        if st.button("Stop the lab", key="lab_stop"):
            job.stop_event.set()
    elif job.result is not None:
        _summary(job.result)
    elif job.status == "failed":
        st.error(f"The lab failed: {job.message}")


def _summary(result: LabResult) -> None:
    rows = []
    for name, run in result.runs.items():
        rows.append({"model": name.upper(), "first lag with accuracy < 0.9": run.curve.first_lag_below(0.9),
                     "first lag with accuracy < 0.6": run.curve.first_lag_below(0.6), "training steps": run.steps,
                     "seconds": round(run.train_seconds, 1)})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption(f"Lags in tokens; empty means accuracy stayed at or above the threshold at every measured lag "
               f"({', '.join(map(str, result.config.eval_lags))}). Chance over all lags: {result.chance:.2f}. Seconds: wall time of "
               f"training and measuring each model on this server. The whole run took {result.wall_seconds:.0f} s.")
    with st.expander("What the models read (the first generated paragraphs)"):
        st.text("\n\n".join(result.samples))


def render_lab(context: Any = None) -> None:
    """Draw the Long-range lab view, then the chosen models' effective context (when a Context is given)."""
    st.markdown(
        "A controlled test of memory. Every paragraph opens with a cue that fixes a word later on: *Mr.* or *Mrs.* "
        "fixes *his* or *her*; an opening bracket fixes its closing bracket. Between them come random filler words. "
        "A plain RNN and an LSTM of the same size learn this text one after the other (under a minute each), with the "
        "same settings: plain gradient descent, where a weight moves only as much as its gradient says. The chart "
        "shows, as they learn, how often each expects the right closing word 1 to 60 tokens after the cue. The RNN's "
        "gradient from the closing word back to the cue shrinks at every step (the chain-rule product of slopes), so "
        "it learns only the nearest cues; the LSTM's cell carries both the cue and its gradient across the gap. "
        "(Given several times more steps, or the Adam optimizer, a plain RNN can learn these simple cues too: the "
        "difference is how fast each can learn, which is what a fixed budget shows.)"
    )
    session_id = _session_id()
    job = lab_job(session_id)
    if job is None or not job.running:
        _controls(session_id)
    _live_panel(session_id)
    if context is not None and context.chosen:
        st.subheader("Effective context: how far back does each model look?")
        render_stored_effective_context(context.chosen)


def context_frame(results: dict[str, ContextResult]) -> pd.DataFrame:
    """Rows (model, perturbation, distance, increase, standard_error) for the effective-context chart."""
    rows = [{"model": name, "perturbation": perturbation, "distance": distance, "increase": value,
             "standard_error": result.standard_error[perturbation][k]}
            for name, result in results.items() for perturbation, curve in result.increase.items()
            for k, (distance, value) in enumerate(zip(result.distances, curve))]
    return pd.DataFrame(rows, columns=["model", "perturbation", "distance", "increase", "standard_error"])


def render_effective_context(results: dict[str, ContextResult]) -> None:
    """Draw loss increase vs distance for each model and perturbation (model/context.py results).

    Args:
        results: model name -> its ContextResult (same text, same positions' settings).
    """
    if not results:
        st.info("No effective-context results to show yet.")
        return
    frame = context_frame(results)
    chart = alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("distance:Q", scale=alt.Scale(type="log"), title="d: tokens kept intact before the target (log scale)"),
        y=alt.Y("increase:Q", title="increase in loss (nats per token)"),
        color=alt.Color("model:N", title="model"),
        strokeDash=alt.StrokeDash("perturbation:N", title="context beyond d"),
        tooltip=["model", "perturbation", "distance", alt.Tooltip("increase:Q", format=".3f"),
                 alt.Tooltip("standard_error:Q", format=".3f", title="standard error")],
    )
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="#777777").encode(y="y:Q")
    first = next(iter(results.values()))
    baselines = "; ".join(f"{name} {result.baseline_loss:.2f} nats" for name, result in results.items())
    show_chart(alt.layer(chart, zero).properties(title="How far back does each model look?", height=320),
               f"What: mean increase in next-word loss (nats per token) when the context farther than d tokens from the "
               f"target is dropped, shuffled, or replaced by a random span of the same text, over {first.positions} target "
               f"positions with {first.context_length} tokens of history each (Khandelwal et al. 2018). Baseline (the "
               f"zero line): the loss with the intact history ({baselines}). A curve near zero at d means the words "
               f"beyond d hardly matter to that model.", key="lab_effective_context")


def render_stored_effective_context(entries: list[ModelEntry]) -> None:
    """The effective-context chart of the models whose metrics.json holds a measurement (model.context --save)."""
    results: dict[str, ContextResult] = {}
    sources, missing = [], []
    for entry in entries:
        stored = get_checkpoint(entry).metrics.get("effective_context")
        try:
            result = ContextResult.from_dict(stored) if isinstance(stored, dict) else None
        except ValueError:
            result = None
        if result is None:
            missing.append(entry.name)
            continue
        results[entry.name] = result
        sources.append(f"{md(entry.name)}: {md(str(stored.get('text', '?')))} (sha256 {md(str(stored.get('text_sha256', '?'))[:12])}…)")
    if results:
        st.caption("Measured once on held-out text when the model was shipped, not on the sentence above: " + "; ".join(sources) + ".")
    render_effective_context(results)
    if missing:
        st.caption(f"Not measured yet for {', '.join(md(name) for name in missing)}. Measure with "
                   "`python -m model.context CHECKPOINT --text FILE --save`; the chart then shows it.")
