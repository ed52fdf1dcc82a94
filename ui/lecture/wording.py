"""The lecture's titles and sentences, worded from the numbers (pure Python, no streamlit).

A title states what the numbers on the screen show ("The LSTM and the GRU flip from “his” to
“her”; the RNN never prefers “his”"), and says so when the evidence is mixed. Every function
here takes plain numbers and returns plain text with the user's words in curly quotes; the page
escapes it for Markdown. Nothing is written in advance: change the sentence and the words change.
"""

from __future__ import annotations

import math
from typing import Sequence

ARCH_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
# Below this many nats a shift or an effect is too small to call (about a 10% change in a probability ratio).
SMALL_NATS = 0.1


def quoted(word: str) -> str:
    """A word of the sentence in curly quotes."""
    return f"“{word}”"


def capitalised(text: str) -> str:
    """First letter upper case (titles start with "the LSTM ...")."""
    return text[:1].upper() + text[1:] if text else text


def number(value: float | None) -> str:
    """A number short enough for a title: 0.59, 1.6, 12, 3e-08."""
    if value is None or not math.isfinite(value):
        return "n/a"
    size = abs(value)
    if size == 0:
        return "0"
    if size < 0.01 or size >= 10_000:
        return f"{value:.0e}"
    if size < 10:
        return f"{value:.2f}"
    return f"{value:.0f}"


def signed(value: float) -> str:
    """A number with its sign: +0.59, −1.07 (a true minus sign)."""
    return ("+" if value >= 0 else "−") + number(abs(value))


def model_labels(models: Sequence[tuple[str, str | None]]) -> dict[str, str]:
    """Name -> how titles call the model: "the LSTM", or its folder name when two share an architecture."""
    archs = [arch for _, arch in models]
    labels = {}
    for name, arch in models:
        unique = arch in ARCH_NAMES and archs.count(arch) == 1
        labels[name] = f"the {ARCH_NAMES[arch]}" if unique else name
    return labels


def listed(labels: Sequence[str]) -> str:
    """ "the RNN", "the RNN and the LSTM", "the RNN, the LSTM and the GRU"."""
    items = list(labels)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _verb(labels: Sequence[str], singular: str, plural: str) -> str:
    return singular if len(labels) == 1 else plural


def expectation_title(rows: Sequence[dict], target: str, contrast: str, context_word: str) -> str:
    """Step 1: which models expect the target more than the contrast.

    Args:
        rows: {"label", "target", "contrast"} probabilities per model.
        context_word: the word the prediction follows ("with"); "" at the start of the text.
    """
    after = f"After {quoted(context_word)}, " if context_word else "At the start, "
    prefer = [row["label"] for row in rows if row["target"] > row["contrast"]]
    other = [row["label"] for row in rows if row["target"] <= row["contrast"]]
    t, c = quoted(target), quoted(contrast)
    if not other:
        who = "every model" if len(rows) > 1 else prefer[0]
        return capitalised(f"{after}{who} expects {t} more than {c}")
    if not prefer:
        if len(rows) > 1:
            return capitalised(f"{after}no model expects {t} more than {c}")
        return capitalised(f"{after}{other[0]} expects {c} more than {t}")
    return capitalised(
        f"{after}{listed(prefer)} {_verb(prefer, 'expects', 'expect')} {t} more than {c}; "
        f"{listed(other)} {_verb(other, 'expects', 'expect')} {c}"
    )


def swap_classes(rows: Sequence[dict]) -> dict[str, list[str]]:
    """Sort models by what the swap does to f = log P(target) - log P(contrast): flip, never, always, backwards."""
    classes: dict[str, list[str]] = {"flip": [], "never": [], "always": [], "backwards": []}
    for row in rows:
        before, after = row["before"] > 0, row["after"] > 0
        key = "flip" if before and not after else "always" if before and after else "backwards" if after else "never"
        classes[key].append(row["label"])
    return classes


def swap_title(rows: Sequence[dict], target: str, contrast: str) -> str:
    """Step 2: "The LSTM and the GRU flip from “his” to “her”; the RNN never prefers “his”".

    Args:
        rows: {"label", "before", "after"}: f on the sentence and on the counterfactual, in nats.
    """
    t, c = quoted(target), quoted(contrast)
    classes = swap_classes(rows)
    clauses = []
    if classes["flip"]:
        clauses.append(f"{listed(classes['flip'])} {_verb(classes['flip'], 'flips', 'flip')} from {t} to {c}")
    if classes["never"]:
        clauses.append(f"{listed(classes['never'])} never {_verb(classes['never'], 'prefers', 'prefer')} {t}")
    if classes["always"]:
        clauses.append(f"{listed(classes['always'])} {_verb(classes['always'], 'prefers', 'prefer')} {t} either way")
    if classes["backwards"]:
        clauses.append(
            f"{listed(classes['backwards'])} {_verb(classes['backwards'], 'moves', 'move')} the wrong way, "
            f"from {c} to {t}"
        )
    return capitalised("; ".join(clauses))


def swap_sentences(rows: Sequence[dict], target: str, contrast: str, cue: str, replacement: str) -> list[str]:
    """Step 2's sentences: what was swapped, and how far the models that did not flip still moved."""
    sentences = [f"Only the cue changes: {quoted(cue)} becomes {quoted(replacement)}; every other word stays."]
    moved = []
    for row in rows:
        shift = row["after"] - row["before"]
        if (row["before"] > 0) == (row["after"] > 0) and abs(shift) >= SMALL_NATS:
            towards = contrast if shift < 0 else target
            moved.append(f"{row['label']} still moves {number(abs(shift))} nats towards {quoted(towards)}")
    if moved:
        sentences.append(capitalised("; ".join(moved)) + ".")
    sentences.append(
        "A bar above zero means the model prefers " + quoted(target) + ", below zero " + quoted(contrast) + "."
    )
    return sentences[:3]


def _ranked(values: dict[str, float]) -> list[str]:
    return sorted(values, key=lambda span: -values[span])


def span_title(label: str, parts: dict[str, dict[str, float]]) -> str:
    """Step 3: which part of the cue carries the swap for one model, and whether the methods agree.

    Args:
        label: "the LSTM".
        parts: part label ("Mr.", "Robert") -> {method: value}; methods swap, occlusion, ig,
            gradxinput, grad (see :mod:`model.analysis.lesson`).
    """
    swap = {part: values["swap"] for part, values in parts.items()}
    order = _ranked(swap)
    top = order[0]
    if all(abs(value) < SMALL_NATS for value in swap.values()):
        largest = max(swap.values(), key=abs)
        return capitalised(
            f"For {label} the cue barely matters: swapping any part of it moves the prediction "
            f"{number(abs(largest))} nats at most"
        )
    if len(order) == 1:
        finding = f"For {label}, swapping {quoted(top)} moves the prediction by {number(swap[top])} nats"
    else:
        second = order[1]
        if swap[second] > 0 and swap[top] < 1.5 * swap[second]:
            finding = (
                f"For {label}, {quoted(top)} and {quoted(second)} carry the cue about equally "
                f"({number(swap[top])} and {number(swap[second])} nats)"
            )
        else:
            finding = (
                f"For {label}, the cue is mostly {quoted(top)}: swapping it moves {number(swap[top])} nats, "
                f"{quoted(second)} {number(swap[second])}"
            )
    if len(order) == 1:
        return capitalised(finding)
    grad_top = _ranked({part: values["grad"] for part, values in parts.items()})[0]
    signed_tops = {
        method: _ranked({part: values[method] for part, values in parts.items()})[0]
        for method in ("occlusion", "ig", "gradxinput")
    }
    disagree = [method for method, part in signed_tops.items() if part != top]
    if grad_top != top and not disagree:
        return capitalised(f"{finding}; only the gradient size ranks {quoted(grad_top)} first")
    if grad_top != top or disagree:
        return capitalised(f"{finding}; the other methods disagree, so the evidence is mixed")
    return capitalised(f"{finding}; every method agrees")


METHOD_SENTENCE = (
    "Swap and hide (put <unk> in place) re-run the model; integrated gradients and gradient × input "
    "estimate from slopes; all four have a sign."
)
SIZE_SENTENCE = "Gradient size has none: it says how sensitive the prediction is to a span, never which way it pushes."


def span_sentences(parts: dict[str, dict[str, float]]) -> list[str]:
    """Step 3's sentences: what the methods measure, then where the signed ones contradict the swap."""
    sentences = [METHOD_SENTENCE, SIZE_SENTENCE]
    against = []
    for part, values in parts.items():
        if values["swap"] >= SMALL_NATS:
            opposite = [method for method in ("occlusion", "ig", "gradxinput") if values[method] <= -SMALL_NATS]
            if opposite:
                names = {"occlusion": "hiding", "ig": "integrated gradients", "gradxinput": "gradient × input"}
                against.append(
                    f"{listed([names[m] for m in opposite])} {_verb(opposite, 'gives', 'give')} {quoted(part)} the opposite sign "
                    "to the swap"
                )
    if against:
        sentences.append(
            capitalised("; ".join(against)) + ": they ask what an unknown or a nudged word would do, "
            "not what the other name does."
        )
    return sentences[:3]


def flow_title(rows: Sequence[dict], cue_word: str, context_word: str, distance: int) -> str:
    """Step 4: how much of a change survives from the cue to the prediction, per model.

    Args:
        rows: {"label", "arch", "kept"}: the largest of ||dh_T/dh_t|| / sqrt(H) and (LSTM) the cell
            path's, ``distance`` words back; None where the sentence is too short.
        distance: words between the cue's last word and the last word read.
    """
    measured = [row for row in rows if row["kept"] is not None]
    if distance < 1 or not measured:
        return "The cue is the last word read, so nothing has had time to vanish"
    span = f"Over the {distance} word{'s' if distance != 1 else ''} from {quoted(cue_word)} to {quoted(context_word)}"
    where = {"rnn": "in {}", "lstm": "on {}'s belt", "gru": "in {}"}
    kept = listed(
        [f"{number(row['kept'])} " + where.get(row["arch"], "in {}").format(row["label"]) for row in measured]
    )
    smallest = min(row["kept"] for row in measured)
    rnn = [row for row in measured if row["arch"] == "rnn"]
    gated = [row for row in measured if row["arch"] in ("lstm", "gru")]
    if smallest >= 0.05:
        verdict = "nothing has vanished yet"
    elif rnn and gated and max(row["kept"] for row in rnn) < min(row["kept"] for row in gated):
        verdict = "the RNN's signal fades fastest"
    else:
        verdict = "part of the signal has vanished"
    return f"{span}, a change survives as {kept}: {verdict}"


def per_word_sentence(rows: Sequence[dict], distance: int) -> str | None:
    """Step 4: the measured share as a slope per word (its distance-th root), to type into the calculator."""
    measured = [row for row in rows if row["kept"] is not None and row["kept"] > 0]
    if distance < 1 or not measured:
        return None
    where = {"lstm": "{}'s belt"}
    each = listed(
        [
            f"{number(row['kept'] ** (1 / distance))} for " + where.get(row["arch"], "{}").format(row["label"])
            for row in measured
        ]
    )
    return f"Per word that is about {each}: type those as slopes to compare."


def calculator_sentence(slopes: Sequence[float], product: float | None) -> str:
    """The chain rule in one sentence: "Nine slopes of 0.1 to 0.3 multiply to 4e-08"."""
    if not slopes:
        return "Type slopes to multiply."
    low, high = min(slopes), max(slopes)
    shown = "too small or large to print" if product is None else number(product)
    spread = f"{number(low)}" if low == high else f"{number(low)} to {number(high)}"
    return (
        f"The chain rule multiplies one slope per word: {len(slopes)} slopes of {spread} give {shown}, "
        "the share of a gradient that survives the trip back."
    )


def belt_title(
    word: str,
    in_cue: bool,
    forget: Sequence[float],
    input_gate: Sequence[float],
    unit: int,
    cell: float,
    counterfactual_cell: float,
    replacement: str,
) -> str:
    """Step 5: what the belt does at one word, for the units that carry the cue.

    Args:
        word: the word just read.
        in_cue: the word is part of the cue (the cue is being written).
        forget, input_gate: the gate values of the followed units at this word.
        unit, cell, counterfactual_cell: the first followed unit and its cell value on both sentences.
    """
    gap = f"unit {unit}'s cell: {signed(cell)} here, {signed(counterfactual_cell)} with {quoted(replacement)}"
    if in_cue:
        level = sum(input_gate) / len(input_gate)
        action = "open and write it onto the belt" if level >= 0.5 else "stay mostly shut"
        return f"At {quoted(word)} the input gates {action} (i ≈ {number(level)}); {gap}"
    low = min(forget)
    if low >= 0.9:
        # A lower bound is rounded down: a sigmoid of 0.996 is "≥ 0.99", never "≥ 1.00".
        return f"At {quoted(word)} the forget gates stay near 1 (≥ {math.floor(low * 100) / 100:.2f}): the belt carries the cue on; {gap}"
    return f"At {quoted(word)} a forget gate drops to {number(low)}: part of the memory is let go; {gap}"


def distance_title(rows: Sequence[dict], longest: int) -> str:
    """Step 6: each model's memory span on the swap ladder.

    Args:
        rows: {"label", "value" (words or None), "beyond" (never halves), "measurable" (the effect
            at the shortest distance is clearly above zero), "reference" (that effect, in nats)}.
        longest: the ladder's longest distance in words.
    """
    clauses = []
    halves = [row for row in rows if row["measurable"] and row["value"] is not None]
    beyond = [row for row in rows if row["measurable"] and row["value"] is None and row["beyond"]]
    none = [row for row in rows if not row["measurable"]]
    if halves:
        clauses.append(
            "the cue's effect halves after "
            + listed([f"{number(row['value'])} words for {row['label']}" for row in halves])
        )
    if beyond:
        clauses.append(f"for {listed([row['label'] for row in beyond])} it does not halve within {longest} words")
    if none:
        sizes = listed([signed(row["reference"]) for row in none])
        clauses.append(
            f"{listed([row['label'] for row in none])} {_verb(none, 'shows', 'show')} no clear effect to follow "
            f"({sizes} nats at the shortest distance)"
        )
    return capitalised("; ".join(clauses))


def vanishing_sentence(rows: Sequence[dict], source: str) -> str | None:
    """Step 6: where the gradient with respect to the cue vanishes although the swap effect stays.

    Args:
        rows: {"label", "gradient_last", "gradient_first", "effect_last"} per model (longest and shortest rung).
    """
    found = [
        row
        for row in rows
        if row["gradient_first"] > 0
        and row["gradient_last"] < 0.1 * row["gradient_first"]
        and row["effect_last"] >= SMALL_NATS
    ]
    if not found:
        return None
    return capitalised(
        f"{listed([row['label'] for row in found])}: the gradient with respect to {quoted(source)} falls to "
        f"{listed([number(row['gradient_last']) for row in found])} at the longest rung, yet the swap still moves "
        f"{listed([number(row['effect_last']) for row in found])} nats: the gradient vanishes, the memory does not."
    )


def exploding_sentence(factor: float, distance: int, scaled: float) -> str:
    """Step 7's explanation, held to the chart: "blows up" only where the scaled gradient is above 1.

    1 is a change passed on whole (the chart's baseline); a product of slopes above 1 grows with every step.
    """
    rule = "A step whose slope is above 1 multiplies a change up, so over many steps the product blows up and training lurches"
    if factor == 1:
        return f"{rule}; move the scale to see it."
    if scaled > 1:
        return f"{rule}: here the gradient from {distance} words back is already {number(scaled)}, above 1."
    return (
        f"{rule}. At × {factor:g} the gradient from {distance} words back is {number(scaled)}, still below 1: "
        "it fades more slowly but has not blown up here; a larger scale shows the growth."
    )


def exploding_title(label: str, factor: float, distance: int, trained: float, scaled: float, clip: float | None) -> str:
    """Step 7: what scaling the recurrent weights does to the gradient, and what clipping keeps."""
    ratio = scaled / trained if trained > 0 else math.inf
    if factor == 1:
        change = f"{label}'s gradient from {distance} words back is {number(trained)}"
    elif ratio >= 1.5:
        times = f"{ratio:.1f}" if ratio < 100 else number(ratio)
        change = (
            f"with its recurrent weights × {factor:g}, {label}'s gradient from {distance} words back grows to "
            f"{number(scaled)}, {times} times the trained {number(trained)}"
        )
    elif ratio <= 1 / 1.5:
        change = f"with its recurrent weights × {factor:g}, {label}'s gradient from {distance} words back shrinks to {number(scaled)}, from {number(trained)}"
    else:
        change = f"with its recurrent weights × {factor:g}, {label}'s gradient from {distance} words back stays near {number(trained)} ({number(scaled)})"
    if clip is not None and scaled > clip:
        change += f"; clipping caps it at {number(clip)}"
    return capitalised(change)
