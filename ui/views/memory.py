"""Where the memory lives: the sentence and its swapped twin side by side, state transplants, the units that carry the cue."""

from __future__ import annotations

import hashlib

import altair as alt
import pandas as pd
import streamlit as st

from ui.page_context import Context
from ui.services import memory_cache
from ui.services.model_store import ModelEntry
from ui.widgets.charts import model_colours, show_chart, word_axis
from ui.widgets.common import results_by_model
from ui.widgets.markup import md, quote

SHARE_SERIES = ("top 1 unit", "top 4 units", "top 16 units", "all units", "cell state c only")
SHARE_COLOURS = ("#fdae6b", "#e6550d", "#a63603", "#1f77b4", "#2ca02c")
SUITE_SIZES = (5, 10, 20, 60)
SUITE_KINDS = ("top 4 units", "4 random units", "top 16 units", "16 random units")
LINE_HEIGHT = 440  # total pixels of a chart over words: title, legend and slanted word labels take about 200 of them


def _labels(report: dict) -> list[str]:
    """ "1 Mr→Mrs", "2 .", "3 Robert→Mary", "4 is", ...: the word after each position, swapped words shown both ways."""
    return [
        f"{i + 1} {a}" + (f"→{b}" if a != b else "")
        for i, (a, b) in enumerate(zip(report["tokens"], report["counterfactual_tokens"]))
    ]


def _x(labels: list[str]) -> alt.X:
    return alt.X(
        "word:N",
        sort=labels,
        scale=alt.Scale(domain=labels),
        title="after word (position)",
        axis=alt.Axis(**word_axis(len(labels))),
    )


def _hundred(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _inputs(context: Context) -> tuple[str, str, str] | None:
    first = context.chosen[0]
    base = memory_cache.defaults(first.path, first.signature, context.text)
    key = hashlib.sha1(context.text.encode("utf-8")).hexdigest()[:10]  # new sentence, new defaults
    if base["counterfactual"] is None:
        st.info(
            "No title and name (such as “Mr. Robert”) found in the sentence. Type a counterfactual below: the same sentence "
            "with the words that carry the cue changed, keeping the number of words.",
            icon=":material/info:",
        )
    # On a projector the three boxes fold away under a one-line summary: the two runs' chart is the point.
    if context.presenter:
        shown = st.session_state.get(f"memory_counterfactual_{key}", base["counterfactual"] or "")
        box = st.expander(f"Counterfactual: {md(shown[:80])}", expanded=not shown)
    else:
        box = st.container()
    counterfactual = box.text_input(
        "Counterfactual: the same sentence with the cue swapped (press Enter)",
        value=base["counterfactual"] or "",
        key=f"memory_counterfactual_{key}",
        help="Same number of words as the sentence; the words may differ only in the first title and name.",
    )
    left, right = box.columns(2)
    target = left.text_input(
        "Target word (predicted after the cue)", value=base["target"] or "his", key=f"memory_target_{key}"
    ).strip()
    contrast = right.text_input(
        "Contrast word (its rival)", value=base["contrast"] or "her", key=f"memory_contrast_{key}"
    ).strip()
    if not counterfactual.strip() or not target or not contrast:
        st.info("Type a counterfactual, a target word and a contrast word.", icon=":material/keyboard:")
        return None
    return counterfactual, target, contrast


def _summary(reports: dict[str, tuple[ModelEntry, dict]]) -> None:
    rows = []
    for name, (_, report) in reports.items():
        needed = report["units_needed"]
        rows.append(
            {
                "model": name,
                "f, sentence (nats)": report["factual"],
                "f, counterfactual (nats)": report["counterfactual"],
                "swap effect (nats)": report["effect"],
                "units for 80%": needed["transplant"],
                "top-4 overlap": report["overlap"]["transplant"]["4"],
                "top-16 overlap": report["overlap"]["transplant"]["16"],
            }
        )
    report = next(iter(reports.values()))[1]
    target = report["target"]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={
            "top-4 overlap": st.column_config.NumberColumn(format="percent"),
            "top-16 overlap": st.column_config.NumberColumn(format="percent"),
            "units for 80%": st.column_config.NumberColumn(format="%d"),
        },
    )
    st.caption(
        f"f = {md(target['description'])} read after word {target['position'] + 1} ({quote(report['tokens'][target['position']])}), "
        "in nats, on each sentence (exact forward runs). Swap effect = counterfactual − sentence. Units for 80%: the fewest units, "
        "taken in order of their single-unit transplant share at the word before the target, whose values moved together from the "
        "counterfactual run into the factual one carry 80% of the swap effect (counts tried: 1, 2, 3, 4, 6, 8, 12, 16, 24, …). "
        "Overlap: share of the top units at the word before the target that are also top units right after the cue (an LSTM "
        "unit's c and h count as one unit); chance is about n / units."
    )


def _distance_chart(reports: dict[str, tuple[ModelEntry, dict]]) -> None:
    names = list(reports)
    colours = model_colours(names, [entry.arch for entry, _ in reports.values()])
    labels = _labels(next(iter(reports.values()))[1])
    rows = [
        {"model": name, "word": labels[p["index"]], "distance": p["state_distance"]}
        for name, (_, report) in reports.items()
        for p in report["positions"]
        if p["index"] < len(labels)
    ]
    chart = (
        alt.Chart(pd.DataFrame(rows), title="How far apart the two memories are, word by word")
        .mark_line(point=True)
        .encode(
            x=_x(labels),
            y=alt.Y("distance:Q", title="‖s − s′‖ / ‖s‖"),
            color=alt.Color(
                "model:N",
                sort=names,
                scale=alt.Scale(domain=names, range=[colours[n] for n in names]),
                legend=alt.Legend(orient="top", title=None),
            ),
            tooltip=["model", "word", alt.Tooltip("distance:Q", format=".3f")],
        )
    )
    show_chart(
        chart,
        "Distance between the two runs' states after each word, per model: ‖s − s′‖ / ‖s‖, with s the whole state of the "
        "sentence's run (h, and c for the LSTM) and s′ the counterfactual's, both computed exactly. 0 = the same memory; 1 = the "
        "difference is as large as the state itself. The lines split at the cue; a line that stays up keeps the difference, "
        "one that falls back lets the two memories drift together.",
        key="memory_distance",
        height=LINE_HEIGHT,
    )


def _share_chart(name: str, report: dict) -> None:
    labels = _labels(report)
    rows = []
    for p in report["positions"][
        : report["target"]["index"] + 1
    ]:  # later words come after the prediction: share 0, not drawn
        values = {
            "top 1 unit": p["share_top"].get("1"),
            "top 4 units": p["share_top"].get("4"),
            "top 16 units": p["share_top"].get("16"),
            "all units": p["share_all"],
            "cell state c only": p["share_cell"],
        }
        rows.extend(
            {"series": series, "word": labels[p["index"]], "share": value}
            for series, value in values.items()
            if value is not None
        )
    shown = [series for series in SHARE_SERIES if any(row["series"] == series for row in rows)]
    colours = [SHARE_COLOURS[SHARE_SERIES.index(series)] for series in shown]
    lines = (
        alt.Chart(pd.DataFrame(rows))
        .mark_line(point=True)
        .encode(
            x=_x(labels),
            y=alt.Y("share:Q", title="share of the swap effect"),
            color=alt.Color(
                "series:N",
                sort=shown,
                scale=alt.Scale(domain=shown, range=colours),
                legend=alt.Legend(orient="top", title=None),
            ),
            tooltip=["series", "word", alt.Tooltip("share:Q", format=".0%")],
        )
    )
    level = alt.Chart(pd.DataFrame({"share": [0.8]})).mark_rule(strokeDash=[4, 4], color="#777").encode(y="share:Q")
    target = report["target"]
    chart = alt.layer(lines, level, title=f"{name}: transplanting the counterfactual's state after each word")
    show_chart(
        chart,
        f"{md(name)}: share of the swap effect on {md(target['description'])} (read after word {target['position'] + 1}) that "
        "comes back when the sentence's state after that word is replaced by the counterfactual's and the rest of the sentence "
        "is read: 1 = the prediction becomes the counterfactual's, 0 = unchanged (exact re-runs, all from one recorded run). "
        "Top n: the n units with the largest |difference| × |gradient of the target| at that word; all units: the whole state; "
        "for the LSTM also the cell state c alone. The dashed line is 80%. Before the cue the states are equal, and after the word "
        "before the target the prediction has been made, so both give 0 (the lines stop at the target word).",
        key=f"memory_share_{name}",
        height=LINE_HEIGHT,
    )


def _unit_charts(name: str, entry: ModelEntry, report: dict) -> None:
    lines = report["unit_lines"]
    if not lines:
        return
    labels = _labels(report)
    options = list(range(len(lines)))
    choice = st.selectbox(
        f"{name}: memory unit to show",
        options,
        key=f"memory_unit_{entry.name}",
        format_func=lambda i: f"{lines[i]['part']}{lines[i]['unit']} (carries {_percent(lines[i]['effect'])} alone)",
    )
    unit = lines[choice]
    part = "cell state c" if unit["part"] == "c" else "hidden state h"
    rows = [
        {"run": run, "word": labels[t], "value": value}
        for run, key in (("sentence", "factual"), ("counterfactual", "counterfactual"))
        for t, value in enumerate(unit[key])
    ]
    runs = alt.Scale(domain=["sentence", "counterfactual"], range=["#1f77b4", "#ff7f0e"])
    chart = (
        alt.Chart(pd.DataFrame(rows), title=f"{name}: {part}, unit {unit['unit']} in both runs")
        .mark_line(point=True)
        .encode(
            x=_x(labels),
            y=alt.Y("value:Q", title=f"{unit['part']} value"),
            color=alt.Color("run:N", scale=runs, legend=alt.Legend(orient="top", title=None)),
            tooltip=["run", "word", alt.Tooltip("value:Q", format=".3f")],
        )
    )
    show_chart(
        chart,
        f"{md(name)}: the value of {part} unit {unit['unit']} after each word, in the sentence's run and in the "
        f"counterfactual's (no unit; the raw activation). Moved alone from the counterfactual run right after the cue, this unit "
        f"carries {_percent(unit['effect'])} of the swap effect (single-unit transplant). Two lines that split at the cue and stay "
        "apart are a memory kept on the conveyor belt.",
        key=f"memory_unit_line_{entry.name}",
        height=LINE_HEIGHT - 40,
    )
    if unit["forget_factual"] is not None:
        rows = [
            {"run": run, "word": labels[t], "value": value}
            for run, key in (("sentence", "forget_factual"), ("counterfactual", "forget_counterfactual"))
            for t, value in enumerate(unit[key])
        ]
        gate = (
            alt.Chart(pd.DataFrame(rows), title=f"{name}: forget gate of unit {unit['unit']}")
            .mark_line(point=True)
            .encode(
                x=_x(labels),
                y=alt.Y("value:Q", title="forget gate f", scale=alt.Scale(domain=[0, 1])),
                color=alt.Color("run:N", scale=runs, legend=alt.Legend(orient="top", title=None)),
                tooltip=["run", "word", alt.Tooltip("value:Q", format=".3f")],
            )
        )
        show_chart(
            gate,
            f"{md(name)}: the forget gate f of unit {unit['unit']} at each word in both runs (0 to 1, no unit): the share of "
            "that cell's old content kept at the word; near 1 the belt carries the cue on unchanged.",
            key=f"memory_unit_gate_{entry.name}",
            height=LINE_HEIGHT - 100,
        )


def _suite_section(entries: list[ModelEntry]) -> None:
    st.subheader("Across the pronoun suite: ablating the memory units")
    st.caption(
        "The built-in pronoun suite (a title and a name, gender-neutral filler, then a slot for his/her), every template with a "
        "man and with a woman, in four distance buckets. Units are ranked on one draw of the suite (seed 0) and ablated on a "
        "fresh draw (seed 1). This runs each model over the suite: about a second per template and model."
    )
    size = st.selectbox(
        "Templates per distance bucket",
        SUITE_SIZES,
        key="memory_suite_size",
        help="The README's table uses 60 (several minutes per model); 5 gives a first look in under a minute.",
    )
    requested = st.session_state.setdefault("memory_suite_requested", [])
    if st.button("Run the suite ablation", key="memory_suite_run", icon=":material/science:"):
        requested.append(size)
    if size not in requested:
        return

    def run_suite(entry: ModelEntry) -> dict:
        with st.spinner(f"Running the pronoun suite on {entry.name}…"):
            return memory_cache.suite(entry.path, entry.signature, size)

    results = results_by_model(entries, run_suite, icon=None)
    if results:
        _ablation_chart(results)
        _suite_table(results)


def _ablation_chart(results: dict[str, dict]) -> None:
    rows = []
    for name, result in results.items():
        for bucket, row in [*result["buckets"].items(), ("all", result["overall"])]:
            for n in ("4", "16"):
                ablation = row["ablation"][n]
                rows.append(
                    {
                        "model": name,
                        "bucket": bucket,
                        "kind": f"top {n} units",
                        "left": ablation["top"],
                        "low": None,
                        "high": None,
                    }
                )
                mean, spread = ablation["random_mean"], ablation["random_std"] or 0.0
                rows.append(
                    {
                        "model": name,
                        "bucket": bucket,
                        "kind": f"{n} random units",
                        "left": mean,
                        "low": None if mean is None else mean - spread,
                        "high": None if mean is None else mean + spread,
                    }
                )
    frame = pd.DataFrame(rows)
    buckets = list(dict.fromkeys(frame["bucket"]))
    colours = alt.Scale(domain=list(SUITE_KINDS), range=["#a63603", "#fdae6b", "#08519c", "#9ecae1"])
    base = alt.Chart(frame).encode(
        x=alt.X(
            "bucket:N",
            sort=buckets,
            title="distance bucket (tokens between name and pronoun)",
            axis=alt.Axis(labelAngle=0),
        ),
        xOffset=alt.XOffset("kind:N", sort=list(SUITE_KINDS)),
    )
    bars = base.mark_bar().encode(
        y=alt.Y("left:Q", title="share of the swap effect left"),
        color=alt.Color("kind:N", scale=colours, legend=alt.Legend(orient="top", title=None)),
        tooltip=["model", "bucket", "kind", alt.Tooltip("left:Q", format=".0%")],
    )
    spread = base.mark_rule(color="black").encode(y="low:Q", y2="high:Q")
    for name in results:
        chart = alt.layer(bars, spread, title=f"{name}: swap effect left after ablating memory units").transform_filter(
            alt.datum.model == name
        )
        show_chart(
            chart,
            f"{md(name)}: share of the pronoun suite's name-swap effect (log P(his) − log P(her) "
            "after the man's name minus after the woman's, pooled over the bucket's templates) that is left when the top 4 or "
            "top 16 memory units are set to their mean right after the cue (over both runs of every ranking template) in both "
            "runs, against the same number of random units (bar: mean of 10 seeded draws; black line: ± one standard deviation). "
            "1 = nothing lost, 0 = the gender is gone.",
            key=f"memory_ablation_{name}",
            height=340,
        )


def _suite_table(results: dict[str, dict]) -> None:
    rows = []
    for name, result in results.items():
        for bucket, row in [*result["buckets"].items(), ("all", result["overall"])]:
            rows.append(
                {
                    "model": name,
                    "bucket": bucket,
                    "templates": row["templates"],
                    "swap (nats)": row["mean_effect"],
                    "80%, after cue": row["units_needed"]["after_cue"],
                    "80%, before target": row["units_needed"]["before_target"],
                    "overlap 4 (%)": _hundred(row["overlap"]["4"]),
                    "overlap 16 (%)": _hundred(row["overlap"]["16"]),
                    "top 4 left (%)": _hundred(row["ablation"]["4"]["top"]),
                    "top 16 left (%)": _hundred(row["ablation"]["16"]["top"]),
                }
            )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={
            "swap (nats)": st.column_config.NumberColumn(format="%.2f"),
            **{
                name: st.column_config.NumberColumn(format="%.0f")
                for name in ("overlap 4 (%)", "overlap 16 (%)", "top 4 left (%)", "top 16 left (%)")
            },
        },
    )
    first = next(iter(results.values()))
    st.caption(
        "Per bucket: templates measured; mean name-swap effect in nats; 80%: the fewest of each template's own top units (by "
        "single-unit transplant share) that carry 80% of the swap, pooled over templates, right after the cue and at the "
        "word before the pronoun (counts tried 1, 2, 3, 4, 6, 8, 12, 16, 24, …); overlap: the mean percentage of the top-4 and "
        "top-16 units at the word before the pronoun that are also top units right after the cue (chance is about n / units); "
        "left: the percentage of the swap effect left after ablating the suite's top 4 / 16 units (as in the bars). Ranked on seed "
        f"{first['seed']} ({first['templates']} templates), ablated on seed {first['ablation_seed']}."
    )


def render(context: Context) -> None:
    """Draw the view for the chosen models and the current sentence."""
    if not context.presenter:  # on a projector the two runs' chart needs the first screen
        st.caption(
            "Run the sentence and a twin with the cue swapped (“Mr. Robert” → “Mrs. Mary”) through each model and compare the two "
            "memories word by word. Then move the twin's state into the sentence's run after one word, in whole or only a few "
            "units, and see how much of the twin's prediction comes with it: that is where the memory of the cue lives."
        )
    chosen = _inputs(context)
    if chosen is None:
        return
    counterfactual, target, contrast = chosen
    reports = results_by_model(
        context.chosen,
        lambda entry: (
            entry,
            memory_cache.transplant(entry.path, entry.signature, context.text, counterfactual, target, contrast),
        ),
        icon=":material/block:",
    )
    if reports:
        _summary(reports)
        _distance_chart(reports)
        for name, (entry, report) in reports.items():
            _share_chart(name, report)
        st.subheader("The memory units")
        for name, (entry, report) in reports.items():
            _unit_charts(name, entry, report)
    _suite_section(context.chosen)
