"""Long-range lab: train S seeds of an RNN and of an LSTM live and watch per-lag bands form; effective-context chart.

The lab (model/lab/run.py) runs in a daemon thread of the server process with a stop
flag, so the page stays responsive and other sessions keep working. The page reads
the job's latest shares every 1.5 seconds. Jobs live in a module-level registry keyed
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

from model.evaluation.effective_context import ContextResult
from model.lab.record import load_measured
from model.lab.run import LEARNED, LabConfig, LabPlan, LabResult, LagShare, run_lab
from ui.services.jobs import REGISTRY
from ui.services.model_store import ModelEntry, get_checkpoint
from ui.settings import ARCH_COLOURS
from ui.widgets.charts import model_colours, show_chart
from ui.widgets.markup import md
from ui.widgets.presenter import is_presenter

LOGGER = logging.getLogger("memory_lab.lab")
HEARTBEAT_TIMEOUT_S = 60.0
MAX_SEEDS = 16


@dataclass
class LabJob:
    """One lab run and what the page draws from it.

    Attributes:
        shares: architecture -> (training step, per-lag shares over the seeds) of its latest measurement.
        plan: the expected time, measured before training (None until then).
        status: "running", then "finished", "stopped" or "failed".
        ended: time.monotonic() when the run ended (the page's clock stops there).
        result: the finished run (trained models included) once done.
    """

    session_id: str
    config: LabConfig
    started: float = field(default_factory=time.monotonic)
    heartbeat: float = field(default_factory=time.monotonic)
    shares: dict[str, tuple[int, list[LagShare]]] = field(default_factory=dict)
    plan: LabPlan | None = None
    status: str = "running"
    message: str = ""
    ended: float | None = None
    result: LabResult | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return self.status == "running"

    def elapsed(self, now: float | None = None) -> float:
        """Seconds since the start, up to the end once the run has ended."""
        return (self.ended if self.ended is not None else (time.monotonic() if now is None else now)) - self.started


def _session_id() -> str:
    context = get_script_run_ctx()
    return context.session_id if context is not None else "no-session"


def _run(job: LabJob) -> None:
    def on_plan(plan: LabPlan) -> None:
        job.plan = plan

    def on_progress(name: str, step: int, shares: list[LagShare]) -> None:
        job.shares[name] = (step, shares)

    def should_stop() -> bool:
        # Stop on the button, or when nobody has looked at the page for a while (tab closed).
        return job.stop_event.is_set() or time.monotonic() - job.heartbeat > HEARTBEAT_TIMEOUT_S

    try:
        job.result = run_lab(job.config, on_plan=on_plan, on_progress=on_progress, should_stop=should_stop)
        job.status = job.result.status
        job.message = f"{len(job.result.runs)} architecture(s) x {job.config.seeds} seeds trained in {job.result.wall_seconds:.0f} s."
    except Exception as error:  # noqa: BLE001 - shown on the page, traceback to the console
        LOGGER.error("lab failed:\n%s", traceback.format_exc())
        job.status, job.message = "failed", f"{type(error).__name__}: {error}"
    finally:
        job.ended = time.monotonic()


def start_lab(session_id: str, config: LabConfig) -> LabJob:
    """Start a lab run in a daemon thread for this session.

    Raises:
        RuntimeError: a lab or a training run is already using this server's cores.
    """
    return REGISTRY.start("lab", session_id, lambda: LabJob(session_id=session_id, config=config), _run)


def lab_job(session_id: str) -> LabJob | None:
    """This session's latest lab run, if any."""
    return REGISTRY.latest("lab", session_id)


def share_frame(shares: dict[str, tuple[int, list[LagShare]]]) -> pd.DataFrame:
    """Rows (model, arch, lag, mean, low, high, learned_share, learned, seeds, step) for the charts."""
    rows = [
        {
            "model": name.upper(),
            "arch": name,
            "lag": share.lag,
            "mean": share.mean_accuracy,
            "low": share.min_accuracy,
            "high": share.max_accuracy,
            "learned_share": share.learned_share,
            "learned": share.learned,
            "seeds": share.seeds,
            "step": step,
        }
        for name, (step, lag_shares) in shares.items()
        for share in lag_shares
    ]
    return pd.DataFrame(
        rows, columns=["model", "arch", "lag", "mean", "low", "high", "learned_share", "learned", "seeds", "step"]
    )


def _colours(frame: pd.DataFrame) -> alt.Scale:
    names = sorted(frame["model"].unique()) if not frame.empty else []
    return alt.Scale(domain=names, range=[ARCH_COLOURS.get(name.lower(), "#555555") for name in names])


def band_chart(frame: pd.DataFrame, chance: dict[int, float]) -> alt.LayerChart:
    """Accuracy (0-1) against lag: per model a band from the worst to the best seed and the seeds' mean; chance dashed."""
    x = alt.X("lag:Q", title="lag: tokens from the cue to the dependent word")
    colour = alt.Color("model:N", title="model", scale=_colours(frame))
    tooltip = [
        "model",
        "lag",
        alt.Tooltip("mean:Q", format=".2f", title="mean accuracy"),
        alt.Tooltip("low:Q", format=".2f", title="worst seed"),
        alt.Tooltip("high:Q", format=".2f", title="best seed"),
        alt.Tooltip("learned:Q", title="seeds that learned"),
        alt.Tooltip("seeds:Q", title="seeds"),
        alt.Tooltip("step:Q", title="training step"),
    ]
    band = (
        alt.Chart(frame)
        .mark_area(opacity=0.22)
        .encode(
            x=x,
            y=alt.Y("low:Q", title="accuracy at the dependent word", scale=alt.Scale(domain=[0, 1])),
            y2="high:Q",
            color=colour,
            tooltip=tooltip,
        )
    )
    mean = alt.Chart(frame).mark_line(point=True).encode(x=x, y="mean:Q", color=colour, tooltip=tooltip)
    chance_frame = pd.DataFrame({"lag": list(chance), "chance": list(chance.values())})
    baseline = (
        alt.Chart(chance_frame)
        .mark_line(strokeDash=[6, 4], color="#777777")
        .encode(x="lag:Q", y="chance:Q", tooltip=["lag", alt.Tooltip("chance:Q", format=".2f")])
    )
    return alt.layer(band, mean, baseline).properties(
        title="Which closing word does each seed expect, as the lag grows?", height=340
    )


def learned_chart(frame: pd.DataFrame) -> alt.Chart:
    """Share of seeds (0-1) whose accuracy at a lag reached the learned threshold, per model."""
    return (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("lag:Q", title="lag: tokens from the cue to the dependent word"),
            # A short y title and room: at presenter type a 2-line rotated title taller than a 220 px chart's plot made
            # Vega's fit shrink the plot to a sliver (the caption says what "learned" means).
            y=alt.Y("learned_share:Q", title="share of seeds learned", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("model:N", title="model", scale=_colours(frame)),
            tooltip=[
                "model",
                "lag",
                alt.Tooltip("learned:Q", title="seeds that learned"),
                alt.Tooltip("seeds:Q", title="seeds"),
            ],
        )
        .properties(title="How many seeds learned each lag?", height=300)
    )


def _chance_words(chance: dict[int, float]) -> str:
    values = sorted({round(value, 2) for value in chance.values()})
    return " to ".join(f"{value:.2f}" for value in (values[0], values[-1])) if len(values) > 1 else f"{values[0]:.2f}"


def measured_claim_text() -> str:
    """The measured shares behind the lab's claim, in words (model/lab/measured.json, written by bench.lab --record)."""
    try:
        m = load_measured()
    except ValueError as error:
        return f"The recorded claim check could not be read: {error}"
    if m is None:
        return "The claim has not been measured on many seeds here yet (python -m bench.lab --record does it)."
    last = m.first_seed + m.seeds - 1
    return (
        f"Measured with {m.seeds} seeds ({m.first_seed}-{last}, none left out) under {md(' and '.join(m.isas))}"
        f"{f' on {md(m.machine)}' if m.machine else ''}{f', {md(m.measured_on)}' if m.measured_on else ''} "
        f"({md(m.command)}): "
        f"at lags {m.lags[0]}-{m.lags[-1]} the LSTM reached accuracy >= {LEARNED} in {m.lstm_learned} of {m.seeds} seeds, "
        f"and the RNN stayed at or below 0.65 in {m.rnn_below} of {m.seeds} (worst lag and worst instruction set)"
        f"{'' if m.holds else f'; this falls short of the {m.required} of {m.seeds} we aim for'}."
    )


def _controls(session_id: str, claim: str) -> None:
    left, right = st.columns(2)
    seeds = left.number_input(
        "Seeds per model",
        min_value=1,
        max_value=MAX_SEEDS,
        value=LabConfig().seeds,
        step=1,
        key="lab_seeds",
        help="How many independent copies of each model train at once, each with its own starting weights and "
        "its own order of the training paragraphs. More seeds: a surer answer, a longer run.",
    )
    first = right.number_input(
        "First seed",
        min_value=0,
        max_value=9999,
        value=0,
        step=1,
        key="lab_first_seed",
        help="The seeds are this one and the following ones. " + claim,
    )
    if not st.button("Start the lab", type="primary", key="lab_start"):
        return
    config = LabConfig(seeds=int(seeds), first_seed=int(first), threads=None)
    try:
        start_lab(session_id, config)
    except RuntimeError as error:
        st.error(str(error), icon=":material/block:")
        return
    st.rerun()


def _budget_line(job: LabJob) -> str:
    """Status, steps, elapsed and expected seconds (from one timed step x steps)."""
    steps = ", ".join(f"{name.upper()} step {step} of {job.config.steps}" for name, (step, _) in job.shares.items())
    clock = f"{job.elapsed():.0f} s {'since start' if job.running else 'in all'}"
    line = f"**Status:** {job.status}{' — ' + steps if steps else ''} ({clock})"
    if job.plan is not None:
        per_step = " and ".join(
            f"{name.upper()} {1000 * seconds:.0f} ms" for name, seconds in job.plan.seconds_per_step.items()
        )
        line += (
            f". Expected about {job.plan.expected_seconds:.0f} s: one step of {job.plan.seeds} seeds took {per_step} on this "
            f"server (timed before training) x {job.plan.steps} steps each, plus {job.plan.evaluations} measurements per model."
        )
    else:
        line += ". Timing one training step to estimate the run time…"
    return line


@st.fragment(run_every=1.5)
def _live_panel(session_id: str) -> None:
    job = lab_job(session_id)
    if job is None:
        return
    job.heartbeat = time.monotonic()
    config = job.config
    st.markdown(_budget_line(job))
    if job.shares:
        frame = share_frame(job.shares)
        chance = {share.lag: share.chance for share in next(iter(job.shares.values()))[1]}
        method = (
            f"{config.seeds} seeds per model (seeds {config.first_seed}-{config.first_seed + config.seeds - 1}), each with its own starting "
            f"weights and its own order of the same generated paragraphs; the LSTM has {config.lstm_hidden_size} hidden units and "
            f"the RNN as many parameters; plain SGD (learning rate {config.lr:g}, each seed's gradient clipped at norm "
            f"{config.clip:g}), {config.steps} steps. Method: a model reads the cue and the filler and is right when it ranks "
            f"the correct closing word (his after Mr., her after Mrs., ) after ( ...) above the cue's other closing words, "
            f"on {config.eval_per_lag} held-out sequences per lag; re-measured every {config.eval_every} steps."
        )
        show_chart(
            band_chart(frame, chance),
            f"What: accuracy at the dependent word (share of held-out sequences, 0 to 1) against the lag (tokens from the cue "
            f"to the dependent word). Shaded band: from the worst to the best seed; line: the mean over the seeds. {method} "
            f"Dashed line: chance, {_chance_words(chance)} (a uniform guess: 1/2 for his/her, 1/3 for brackets; lags 1 and 2 "
            f"hold brackets only, since 'Mr. Brown' takes 3 tokens).",
            key="lab_bands",
        )
        show_chart(
            learned_chart(frame),
            f"What: the share of seeds (0 to 1) whose accuracy at that lag reached {LEARNED}, i.e. that learned to carry the cue "
            f"that far; same runs and measurements as the chart above. Baseline: a model that only guesses never reaches "
            f"{LEARNED} (chance is {_chance_words(chance)}), so its share would be 0.",
            key="lab_learned",
        )
    if job.running:
        if st.button("Stop the lab", key="lab_stop"):
            job.stop_event.set()
    elif job.result is not None:
        _summary(job.result)
    elif job.status == "failed":
        st.error(f"The lab failed: {job.message}")


def summary_frame(result: LabResult) -> pd.DataFrame:
    """Per lag: each model's seeds that learned it and its mean [worst, best] accuracy, and chance."""
    shares = {name: {share.lag: share for share in run.shares()} for name, run in result.runs.items()}
    rows = []
    for lag in result.config.eval_lags:
        row: dict[str, Any] = {"lag": lag}
        for name in result.runs:
            share = shares[name][lag]
            row[f"{name.upper()} learned"] = f"{share.learned} of {share.seeds}"
            row[f"{name.upper()} mean [worst, best]"] = (
                f"{share.mean_accuracy:.2f} [{share.min_accuracy:.2f}, {share.max_accuracy:.2f}]"
            )
        row["chance"] = round(result.chance[lag], 2)
        rows.append(row)
    return pd.DataFrame(rows)


def _summary(result: LabResult) -> None:
    st.dataframe(summary_frame(result), hide_index=True)
    timing = "; ".join(
        f"{name.upper()}: {run.parameters:,} parameters per seed (hidden {run.hidden_size}), {run.run.steps} steps in "
        f"{run.run.seconds:.0f} s ({1000 * run.run.seconds_per_step:.0f} ms per step of all seeds)"
        for name, run in result.runs.items()
    )
    st.caption(
        f"Learned: accuracy >= {LEARNED} at that lag (share of {result.config.eval_per_lag} held-out sequences). Mean, worst and "
        f"best: over the {result.config.seeds} seeds. Chance: a uniform guess among the cue's closing words. {timing}. The whole run "
        f"took {result.wall_seconds:.0f} s against {result.plan.expected_seconds:.0f} s expected."
    )
    with st.expander("What the models read (the first generated paragraphs)"):
        st.text("\n\n".join(result.samples))


_INTRO = (
    "A controlled test of memory. Every paragraph opens with a cue that fixes a word later on: *Mr.* or *Mrs.* "
    "fixes *his* or *her*; an opening bracket fixes its closing bracket. Between them come random filler words. "
    "Several copies (seeds) of a plain RNN and of an LSTM with the same number of parameters learn this text at once, "
    "each from its own random start and in its own order, with the same settings: plain gradient descent, where a "
    "weight moves only as much as its gradient says. The charts show, as they learn, how well the seeds expect the "
    "right closing word 1 to 60 tokens after the cue. The RNN's gradient from the closing word back to the cue "
    "shrinks at every step (the chain-rule product of slopes), so it learns only the nearest cues; the LSTM's cell "
    "carries both the cue and its gradient across the gap."
)
_CAVEAT = (
    "(Given many more steps, or the Adam optimizer, a plain RNN can learn such cues too: the difference is how fast "
    "each can learn, which is what a fixed budget shows.)"
)


def render_lab(context: Any = None) -> None:
    """Draw the Long-range lab view, then the chosen models' effective context (when a Context is given)."""
    claim = measured_claim_text()  # model/lab/measured.json, read once per run of the page
    if getattr(context, "presenter", False):  # on a projector the controls and the chart need the first screen
        st.markdown(
            "**A cue (*Mr.* / *Mrs.*, an opening bracket) fixes a word 1 to 60 filler words later. "
            "Copies of a plain RNN and of an LSTM of equal size learn it at once.**"
        )
        st.caption(claim + " " + _CAVEAT)
        with st.expander("How the lab works"):
            st.markdown(_INTRO)
    else:
        st.markdown(_INTRO + " " + claim + " " + _CAVEAT)
    session_id = _session_id()
    job = lab_job(session_id)
    if job is None or not job.running:
        _controls(session_id, claim)
    _live_panel(session_id)
    if context is not None and context.chosen:
        st.subheader("Effective context: how far back does each model look?")
        render_stored_effective_context(context.chosen)


def context_frame(results: dict[str, ContextResult]) -> pd.DataFrame:
    """Rows (model, perturbation, distance, increase, standard_error) for the effective-context chart."""
    rows = [
        {
            "model": name,
            "perturbation": perturbation,
            "distance": distance,
            "increase": value,
            "standard_error": result.standard_error[perturbation][k],
        }
        for name, result in results.items()
        for perturbation, curve in result.increase.items()
        for k, (distance, value) in enumerate(zip(result.distances, curve))
    ]
    return pd.DataFrame(rows, columns=["model", "perturbation", "distance", "increase", "standard_error"])


def render_effective_context(results: dict[str, ContextResult], colours: dict[str, str] | None = None) -> None:
    """Draw loss increase vs distance for each model and perturbation (model/evaluation/effective_context.py results).

    Args:
        results: model name -> its ContextResult (same text, same positions' settings).
        colours: model name -> its colour (the app's per-architecture colours); None: Vega's own.
    """
    if not results:
        st.info("No effective-context results to show yet.")
        return
    frame = context_frame(results)
    chart = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "distance:Q", scale=alt.Scale(type="log"), title="d: tokens kept intact before the target (log scale)"
            ),
            y=alt.Y("increase:Q", title="increase in loss (nats per token)"),
            # One legend entry per line: side by side in one row, the two legends ran past the chart's right edge
            # in presenter type. The line-style legend draws strokes, so "drop" / "shuffle" / "replace" show their dash.
            color=alt.Color(
                "model:N",
                title="model",
                scale=alt.Scale(domain=list(colours), range=list(colours.values())) if colours else alt.Undefined,
                legend=alt.Legend(columns=1),
            ),
            strokeDash=alt.StrokeDash(
                "perturbation:N",
                title="context beyond d",
                legend=alt.Legend(columns=1, symbolType="stroke", symbolStrokeWidth=3, symbolSize=900),
            ),
            tooltip=[
                "model",
                "perturbation",
                "distance",
                alt.Tooltip("increase:Q", format=".3f"),
                alt.Tooltip("standard_error:Q", format=".3f", title="standard error"),
            ],
        )
    )
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="#777777").encode(y="y:Q")
    first = next(iter(results.values()))
    baselines = "; ".join(f"{name} {result.baseline_loss:.2f} nats" for name, result in results.items())
    # On a projector the subheader above names the chart: its own two-line title was clipped at the top there.
    layered = alt.layer(chart, zero).properties(height=320)
    show_chart(
        layered if is_presenter() else layered.properties(title="How far back does each model look?"),
        f"What: mean increase in next-word loss (nats per token) when the context farther than d tokens from the "
        f"target is dropped, shuffled, or replaced by a random span of the same text, over {first.positions} target "
        f"positions with {first.context_length} tokens of history each (Khandelwal et al. 2018). Baseline (the "
        f"zero line): the loss with the intact history ({baselines}). A curve near zero at d means the words "
        f"beyond d hardly matter to that model.",
        key="lab_effective_context",
    )


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
        sources.append(
            f"{md(entry.name)}: {md(str(stored.get('text', '?')))} (sha256 {md(str(stored.get('text_sha256', '?'))[:12])}…)"
        )
    if results:
        st.caption(
            "Measured once on held-out text when the model was shipped, not on the sentence above: "
            + "; ".join(sources)
            + "."
        )
    chosen = [entry for entry in entries if entry.name in results]
    render_effective_context(results, model_colours([entry.name for entry in chosen], [entry.arch for entry in chosen]))
    if missing:
        st.caption(
            f"Not measured yet for {', '.join(md(name) for name in missing)}. Measure with "
            "`python -m model.context CHECKPOINT --text FILE --save`; the chart then shows it."
        )
