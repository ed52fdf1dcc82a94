"""Models: a card per checkpoint from its metrics.json (what it was trained on, how big, how good)."""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from model.training.history import combined_curve, training_stages, training_totals
from ui.page_context import Context
from ui.services.model_store import ModelEntry, get_checkpoint
from ui.widgets.charts import EXPORT_HINT, column_title, show_chart
from ui.widgets.common import model_title, side_by_side
from ui.widgets.markup import md


def _number(value: Any, digits: int = 1) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "—"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def card_facts(entry: ModelEntry) -> dict[str, str]:
    """The model card as label -> text (sizes from config.json, the rest from metrics.json)."""
    checkpoint = get_checkpoint(entry)
    config, metrics = checkpoint.config, checkpoint.metrics
    train_config = metrics.get("train_config") if isinstance(metrics.get("train_config"), dict) else {}
    clip = train_config.get("clip")
    stages = training_stages(metrics)
    totals = training_totals(stages)
    every = " (all stages)" if len(stages) > 1 else ""
    return {
        "Architecture": config.arch.upper(),
        "Corpus": md(str(metrics.get("corpus", "—"))),  # st.table renders Markdown: file text is escaped
        "Training text": text_summary(stages),
        f"Tokens read{every}": _millions(totals["tokens_read"]),
        "Vocabulary": _number(config.vocab_size, 0) + " words",
        "Embedding / hidden size": f"{config.embedding_size} / {config.hidden_size} units, {config.num_layers} layer(s)",
        "Output layer": "adaptive softmax" if config.decoder == "adaptive" else "full softmax",
        "Parameters": _number(metrics.get("parameters", checkpoint.model.num_parameters()), 0),
        "Train perplexity": _number(metrics.get("train_ppl"), 1),
        "Validation perplexity": _number(metrics.get("valid_ppl"), 1),
        "Test perplexity": _number(metrics.get("test_ppl"), 1),
        f"Training steps{every}": _number(totals["steps"], 0),
        f"Epochs{every}": _number(totals["epochs"], 2),
        f"Training time{every}": f"{_number(totals['minutes'], 1)} min",
        **({"Training stages": stage_summary(stages)} if len(stages) > 1 else {}),
        "Gradient clipping": "off" if clip in (None, 0) else md(f"global norm ≤ {clip}"),
        "Status": md(str(metrics.get("status", "—"))),
        "Stored as": md(str(metrics.get("storage_dtype", "—"))),
    }


def _millions(value: float | None) -> str:
    return "—" if value is None else f"{value / 1e6:,.2f}M tokens"


def text_summary(stages: list[dict[str, Any]]) -> str:
    """ "novels+library, 24.25M tokens (stage 1 of 2); novels, 2.63M tokens (stage 2 of 2)": distinct text per stage."""
    parts = [
        f"{stage['corpus'] or '—'}, {_millions(stage['train_tokens'])}"
        + (f" ({stage['stage']})" if len(stages) > 1 else "")
        for stage in stages
    ]
    return md("; ".join(parts))


def stage_summary(stages: list[dict[str, Any]]) -> str:
    """ "stage 1 of 2: 8 epochs at BPTT 70, 31.0 min; stage 2 of 2: 1 epoch at BPTT 200, from stage 1's weights, 3.4 min"."""
    parts = []
    for index, stage in enumerate(stages):
        epochs = _number(stage["epochs"], 2).rstrip("0").rstrip(".") if stage["epochs"] is not None else "—"
        words = [f"{stage['stage']}: {epochs} epoch{'s' if stage['epochs'] != 1 else ''}"]
        if stage["bptt"]:
            words[0] += f" at BPTT {stage['bptt']}"
        if index > 0 and stage["init_from"]:
            words.append("from the previous stage's weights")
        words.append(f"{_number(stage['minutes'], 1)} min")
        parts.append(", ".join(words))
    return md("; ".join(parts))


def _curve_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [{key: row[key] for key in ("step", "stage", "split", "perplexity")} for row in combined_curve(metrics)]
    )


def _norm_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for record in combined_curve(metrics):
        for key, label in (("grad_norm_mean", "mean"), ("grad_norm_max", "max")):
            if record.get(key) is not None:
                rows.append({"step": record["step"], "stage": record["stage"], "statistic": label, "norm": record[key]})
    return pd.DataFrame(rows)


def render_card(entry: ModelEntry) -> None:
    """One model card: facts, the perplexity curve and the gradient norms."""
    checkpoint = get_checkpoint(entry)
    st.subheader(model_title(entry))
    facts = card_facts(entry)
    st.table(pd.DataFrame({"value": list(facts.values())}, index=list(facts.keys())))
    st.caption(
        "From the checkpoint's config.json and metrics.json. Training text: the tokens (words and punctuation) "
        "in each stage's training split, counted once; tokens read: epochs × those tokens, summed over the stages, "
        "so two models can read as much while one saw ten times more distinct text. Perplexity = exp(mean cross-entropy per word): "
        "the number of words the model is, on average, as unsure as if choosing uniformly among. Lower is better; "
        "a model that guesses uniformly has perplexity = vocabulary size."
    )
    curve = _curve_frame(checkpoint.metrics)
    if not curve.empty:
        chart = (
            alt.Chart(
                curve,
                title=column_title(f"{entry.name}: perplexity during training"),
            )
            .mark_line(point=True)
            .encode(
                x=alt.X("step:Q", title="training step"),
                y=alt.Y("perplexity:Q", scale=alt.Scale(type="log"), title="perplexity (log scale)"),
                # The legend shows "train" / "valid": in a third of the page "train (running mean)" was cut to
                # "train (running"; the caption says what each curve is.
                color=alt.Color(
                    "split:N",
                    title=None,
                    legend=alt.Legend(orient="bottom", columns=1, labelExpr="split(datum.label, ' (')[0]"),
                ),
                detail="stage:N",
                tooltip=["stage", "step", "split", alt.Tooltip("perplexity:Q", format=".1f")],
            )
        )
        stages = curve["stage"].nunique()
        show_chart(
            chart,
            "Perplexity (log scale, lower is better) against training step: the train curve is a running mean "
            "over the last logging window, the valid points score the held-out validation text. Baseline: vocabulary size "
            f"({checkpoint.config.vocab_size:,}) for uniform guessing."
            + (
                f" All {stages} stages on one step axis: each stage continues where the one before stopped."
                if stages > 1
                else ""
            )
            + f" {EXPORT_HINT}",
            key=f"card_curve_{entry.name}",
            height=340,
        )
    norms = _norm_frame(checkpoint.metrics)
    if not norms.empty:
        chart = (
            alt.Chart(
                norms,
                title=column_title(f"{entry.name}: gradient norm during training"),
            )
            .mark_line()
            .encode(
                x=alt.X("step:Q", title="training step"),
                y=alt.Y("norm:Q", scale=alt.Scale(type="log"), title="global gradient norm (log scale)"),
                color=alt.Color("statistic:N", title="per window", legend=alt.Legend(orient="bottom", columns=1)),
                detail="stage:N",
                tooltip=["stage", "step", "statistic", alt.Tooltip("norm:Q", format=".3g")],
            )
        )
        show_chart(
            chart,
            "Global L2 norm of the gradient of all weights, before clipping, per training step (mean and max "
            "over each logging window), log scale. Spikes are exploding gradients; clipping caps what the "
            "optimizer uses at the clip threshold listed above.",
            key=f"card_norms_{entry.name}",
            height=340,
        )


def render(context: Context) -> None:
    """All folders in a table, then a card per chosen model side by side."""
    st.markdown("What each model is: its size, what it read, and how well it predicts text it never saw.")
    table = [
        {
            "folder": entry.name,
            "architecture": (entry.arch or "—").upper(),
            "usable": "yes" if entry.ok else "no",
            "problem": entry.error or "",
        }
        for entry in context.entries
    ]
    if table:
        st.dataframe(pd.DataFrame(table), width="stretch", hide_index=True)
        st.caption(f"Every folder under {md(context.root)}; a folder that does not load says why.")
    else:
        st.info(f"No model folders in {md(context.root)} yet. Train one in the Train tab.", icon=":material/info:")
    if not context.chosen:
        return
    for column, entry in zip(side_by_side(context.chosen), context.chosen):
        with column:
            render_card(entry)
