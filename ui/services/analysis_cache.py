"""Cached calls into model.analysis: one function per view, JSON-able results.

Each function is keyed by (checkpoint path, file signature, text, options), so
the same sentence on the same model is analysed once per process and a
retrained model is analysed afresh. Results are plain dicts and lists (what
st.cache_data stores safely and what the Export tab writes). The work itself is
done by model.analysis; this layer only picks the numbers the views show.
"""

from __future__ import annotations

import math
from typing import Any

import streamlit as st
import torch

from data.files import json_ready
from model.analysis.influence.methods import DEFINITIONS, word_influence
from model.analysis.inputs import prepare_input
from model.analysis.lesson import cue_swap as swap_of
from model.analysis.lesson import span_attribution as attribution_of
from model.analysis.lesson_pair import build_pair
from model.analysis.memory.exploding import exploding_curves, gradient_norm_history
from model.analysis.memory.gradient_flow import embedding_gradient_flow, hidden_gradient_flow
from model.analysis.memory.ladder import LadderSpec, run_ladder
from model.analysis.memory.products import forget_retention, rnn_slope_product
from model.analysis.memory.traces import GATE_KEYS, compute_traces, gate_means, saturation, unit_order
from model.analysis.memory.unit_influence import unit_influence as model_unit_influence
from model.analysis.predictions import prediction_table
from model.analysis.preference import word_scores as scores_of
from model.analysis.report import analyze_text
from model.analysis.targets import TargetSpec, resolve_targets, word_id
from model.core.config import CELLS
from model.core.generation import generate as sample
from ui.services.model_store import Signature, checkpoint_at
from ui.settings import MAX_WORDS

CACHE = dict(show_spinner=False, max_entries=64)


def _words(tokenizer, text: str) -> dict[str, Any]:
    analysis_input = prepare_input(tokenizer, text, max_words=MAX_WORDS)
    encoded = analysis_input.encoded
    return {
        "input": analysis_input,
        "tokens": list(encoded.tokens),
        "unknown": [bool(u) for u in encoded.unknown],
        "offsets": [list(span) for span in encoded.offsets],
    }


@st.cache_data(**CACHE)
def next_word(path: str, signature: Signature, text: str, top_k: int = 10) -> dict[str, Any]:
    """Next-word predictions of one model on one text.

    Returns:
        tokens, unknown: the typed words and which are outside the vocabulary.
        actual: per word i, {"prob", "bits", "rank"} the model gave word i having
            read the words before it (word 0 is predicted from the paragraph start).
        top: per row r = 0..T, the top_k {"word", "prob"} after reading words 0..r-1
            (row 0: before any word; row T: after the whole text).
    """
    checkpoint = checkpoint_at(path, signature)
    words = _words(checkpoint.tokenizer, text)
    traces = compute_traces(checkpoint.model, words["input"])
    table = prediction_table(
        traces.log_probs, words["input"].word_ids, checkpoint.tokenizer, top_k
    )  # row r predicts word r
    return {
        "tokens": words["tokens"],
        "unknown": words["unknown"],
        "actual": table["actual"],
        "top": table["top"],
        "vocab_size": checkpoint.tokenizer.vocab_size,
    }


@st.cache_data(**CACHE)
def gates(path: str, signature: Signature, text: str, layer: int = -1) -> dict[str, Any]:
    """Gate, cell and hidden traces of one model on one text (one value per typed word and unit).

    Returns:
        arch, tokens, unknown, num_layers, layer;
        traces: name -> [T][H] floats (keys of model.analysis.memory.traces.TRACE_KEYS);
        means: gate name -> T floats (mean over units);
        saturation: gate name -> {"below", "above", "between"} shares (< 0.1, > 0.9);
        variance_order: name -> H unit indices, most variable over the sentence first;
        cell_norm / hidden_norm: T floats, the L2 norm of the cell (LSTM) / hidden state after each word.
    """
    checkpoint = checkpoint_at(path, signature)
    words = _words(checkpoint.tokenizer, text)
    traces = compute_traces(checkpoint.model, words["input"]).words()
    values = traces.layers[layer]
    result: dict[str, Any] = {
        "arch": traces.arch,
        "tokens": words["tokens"],
        "unknown": words["unknown"],
        "num_layers": len(traces.layers),
        "layer": layer if layer >= 0 else len(traces.layers) + layer,
        "hidden_size": int(values["hidden"].shape[1]),
        "traces": {name: tensor.detach().double().tolist() for name, tensor in values.items()},
        "means": gate_means(traces, layer),
        "saturation": saturation(traces, layer),
        "gate_names": list(GATE_KEYS[traces.arch]),
        "variance_order": {name: unit_order(tensor) for name, tensor in values.items()},
        "hidden_norm": torch.linalg.vector_norm(values["hidden"].detach().double(), dim=1).tolist(),  # [T]
    }
    if "cell" in values:
        result["cell_norm"] = torch.linalg.vector_norm(values["cell"].detach().double(), dim=1).tolist()  # [T]
    if CELLS[traces.arch].keep_gate is not None:
        retention = forget_retention(traces, layer=layer, all_pairs=True)
        # Row 0 of all_pairs: share of what the memory held after word 1 still carried after word t.
        result["retention"] = {
            "gate": retention["gate"],
            "from_first": retention["all_pairs"][0],
            "to_last": retention["mean"],
        }
    return clean(result)


def clean(value: Any) -> Any:
    """JSON-safe copy for the caches and charts (data.files.json_ready)."""
    return json_ready(value)


@st.cache_data(**CACHE)
def gradient_flow(path: str, signature: Signature, text: str) -> dict[str, Any]:
    """Measured gradient flow of one model on one text, from the last word back to every earlier one.

    Returns:
        arch, tokens;
        hidden: model.analysis.memory.gradient_flow.hidden_gradient_flow over the words (||dh_T/dh_t||_F, LSTM cell path too);
        embedding: embedding_gradient_flow (||d log p(next word | text) / d e_t||) over the words;
        retention: forget_retention (LSTM forget gates, GRU update gates) or None;
        slope_product: rnn_slope_product (tanh RNN) or None.
    """

    checkpoint = checkpoint_at(path, signature)
    words = _words(checkpoint.tokenizer, text)
    analysis_input = words["input"]
    model = checkpoint.model
    traces = compute_traces(model, analysis_input)
    word_traces = traces.words()
    result: dict[str, Any] = {
        "arch": traces.arch,
        "tokens": words["tokens"],
        # Position 0 of the model input is the paragraph-start <eos>; word t sits at input t + 1.
        "hidden": hidden_gradient_flow(model, analysis_input),
        "embedding": embedding_gradient_flow(model, analysis_input),
        "retention": forget_retention(word_traces, all_pairs=False)
        if CELLS[traces.arch].keep_gate is not None
        else None,
        "slope_product": rnn_slope_product(model, word_traces, spectral=False) if traces.arch == "rnn" else None,
    }
    if result["retention"] is not None:
        result["retention"].pop("per_unit", None)  # [T][H]: too big to keep, not shown
    return clean(result)


@st.cache_data(**CACHE)
def exploding(path: str, signature: Signature, text: str, factor: float) -> dict[str, Any]:
    """model.analysis.memory.exploding.exploding_curves for one recurrent-weight scale (the scaled copy is discarded)."""

    checkpoint = checkpoint_at(path, signature)
    words = _words(checkpoint.tokenizer, text)
    curves = exploding_curves(checkpoint.model, words["input"], factor)
    return clean(dict(curves, tokens=words["tokens"]))


@st.cache_data(**CACHE)
def training_gradient_norms(path: str, signature: Signature) -> dict[str, Any] | None:
    """model.analysis.memory.exploding.gradient_norm_history of the checkpoint's metrics.json, or None without a curve."""

    checkpoint = checkpoint_at(path, signature)
    try:
        return clean(gradient_norm_history(checkpoint.metrics))
    except ValueError:
        return None


@st.cache_data(**CACHE)
def influence(
    path: str,
    signature: Signature,
    text: str,
    method: str,
    kind: str,
    word: str | None = None,
    contrast: str | None = None,
) -> dict[str, Any]:
    """All-pairs word influence (model.analysis.influence.methods.word_influence) of one model on one text.

    Args:
        method: "grad", "gradxinput", "ig" or "occlusion".
        kind, word, contrast: the target function (model.analysis.targets.TargetSpec).

    Returns:
        tokens, unknown; matrix [T][T] (row t = prediction after word t, column s = word; None where s > t);
        values [T] (f_t in nats); description (the formula); last_is_guess; method; definition; details.

    Raises:
        ValueError: a chosen word the model does not know, with the reason.
    """

    checkpoint = checkpoint_at(path, signature)
    words = _words(checkpoint.tokenizer, text)
    spec = TargetSpec(kind, word, contrast)
    word_ids = words["input"].word_ids  # [T]

    def resolver(log_probs: torch.Tensor):
        return resolve_targets(spec, checkpoint.tokenizer, word_ids, log_probs)

    result = word_influence(checkpoint.model, words["input"].ids, resolver, method, unk_id=checkpoint.tokenizer.unk_id)
    details = {key: value for key, value in result.details.items() if key not in ("log_probs", "deltas")}
    return clean(
        {
            "tokens": words["tokens"],
            "unknown": words["unknown"],
            "offsets": words["offsets"],
            "matrix": result.matrix,
            "values": result.values,
            "description": result.targets.description,
            "last_is_guess": result.targets.last_is_guess,
            "method": method,
            "definition": DEFINITIONS[method],
            "details": details,
        }
    )


@st.cache_data(**CACHE)
def word_probabilities(
    path: str, signature: Signature, text: str, position: int, words: tuple[str, ...]
) -> dict[str, float | None]:
    """P(w | the words before ``position``) for a few words w (None for a word the model does not know).

    Args:
        position: index of the word being predicted (0 = the first word, T = after the whole text).
    """
    checkpoint = checkpoint_at(path, signature)
    prepared = _words(checkpoint.tokenizer, text)
    log_probs = compute_traces(checkpoint.model, prepared["input"]).log_probs  # [T + 1, V]; row r predicts word r
    row = log_probs[min(max(position, 0), log_probs.shape[0] - 1)]  # [V]
    result: dict[str, float | None] = {}
    for word in words:
        index = checkpoint.tokenizer.token_to_id(word)
        result[word] = None if index is None else math.exp(float(row[index]))
    return result


@st.cache_data(**CACHE)
def word_scores(
    path: str, signature: Signature, text: str, position: int, words: tuple[str, ...]
) -> dict[str, dict | None]:
    """model.analysis.preference.word_scores at one prediction: {"log_prob", "prob", "rank"} per word (None: unknown).

    Args:
        position: index of the word being predicted (0 = the first word, T = after the whole text).
    """

    checkpoint = checkpoint_at(path, signature)
    prepared = _words(checkpoint.tokenizer, text)
    log_probs = compute_traces(checkpoint.model, prepared["input"]).log_probs  # [T + 1, V]; row r predicts word r
    return scores_of(log_probs[min(max(position, 0), log_probs.shape[0] - 1)], checkpoint.tokenizer, words)


def _pair_json(pair) -> dict[str, Any]:
    return {
        "text": pair.text,
        "counterfactual": pair.counterfactual,
        "tokens": list(pair.tokens),
        "counterfactual_tokens": list(pair.counterfactual_tokens),
        "cue_span": list(pair.cue_span),
        "parts": [[label, list(span)] for label, span in pair.parts],
        "cue_text": pair.cue_text,
        "replacement_text": pair.replacement_text,
        "target_position": pair.target_position,
        "target": pair.target,
        "contrast": pair.contrast,
    }


@st.cache_data(**CACHE)
def cue_swap(
    path: str, signature: Signature, text: str, counterfactual: str, target: str, contrast: str
) -> dict[str, Any]:
    """model.analysis.lesson.cue_swap: f = log P(target) - log P(contrast) on the text, its counterfactual and each cue part swapped alone.

    Returns:
        pair (the checked sentence pair: tokens, cue span, parts, target position) and swap
        {"before", "after", "shift", "parts": [{"label", "replacement", "value", "effect"}]} in nats.

    Raises:
        ValueError: a counterfactual of another length, the same sentence, or words the model does not know.
    """

    checkpoint = checkpoint_at(path, signature)
    pair = build_pair(checkpoint.tokenizer, text, counterfactual, target, contrast, max_words=MAX_WORDS)
    return clean({"pair": _pair_json(pair), "swap": swap_of(checkpoint.model, checkpoint.tokenizer, pair)})


@st.cache_data(**CACHE)
def span_attribution(
    path: str, signature: Signature, text: str, counterfactual: str, target: str, contrast: str
) -> dict[str, Any]:
    """model.analysis.lesson.span_attribution (five methods, summed over each cue part and the whole cue).

    Returns:
        pair (as :func:`cue_swap`) and rows [{"span", "start", "end", "method", "value"}].

    Raises:
        ValueError: as :func:`cue_swap`, or a target that is the first word.
    """

    checkpoint = checkpoint_at(path, signature)
    pair = build_pair(checkpoint.tokenizer, text, counterfactual, target, contrast, max_words=MAX_WORDS)
    return clean({"pair": _pair_json(pair), "rows": attribution_of(checkpoint.model, checkpoint.tokenizer, pair)})


@st.cache_data(**CACHE)
def ladder(
    path: str,
    signature: Signature,
    sentence: str,
    source_word: str,
    target_word: str,
    contrast_word: str,
    rungs: int,
    replacement_word: str | None = None,
    fillers: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """The distance ladder of one model (model.analysis.memory.ladder.run_ladder(...).to_json()).

    Args:
        fillers: the clauses to insert (None: model.analysis.memory.ladder.DEFAULT_FILLERS).

    Raises:
        ValueError: words missing from the sentence or the vocabulary, with the reason.
    """

    checkpoint = checkpoint_at(path, signature)
    spec = LadderSpec(
        sentence=sentence,
        source_word=source_word,
        target_word=target_word,
        contrast_word=contrast_word,
        rungs=rungs,
        replacement_word=replacement_word,
        **({"fillers": tuple(fillers)} if fillers else {}),
    )
    return clean(run_ladder(checkpoint.model, checkpoint.tokenizer, spec).to_json())


@st.cache_data(**CACHE)
def generate(path: str, signature: Signature, prompt: str, words: int, temperature: float, seed: int) -> str:
    """model.predict.generate: ``words`` tokens sampled after ``prompt`` at ``temperature`` (same seed, same text).

    Raises:
        ValueError: a bad count or temperature, with the reason.
    """

    checkpoint = checkpoint_at(path, signature)
    return sample(checkpoint.model, checkpoint.tokenizer, prompt, words, temperature=temperature, seed=seed)


@st.cache_data(show_spinner=False, max_entries=32)
def report(
    path: str, signature: Signature, text: str, target_word: str | None, contrast_word: str | None, method: str
) -> dict[str, Any]:
    """The whole analysis of one text (model.analysis.report.analyze_text), for the Export tab."""

    checkpoint = checkpoint_at(path, signature)
    return clean(
        analyze_text(
            checkpoint.model,
            checkpoint.tokenizer,
            text,
            target_word=target_word,
            contrast_word=contrast_word,
            method=method,
            max_words=MAX_WORDS,
            top_k=10,
            ladder=False,
        )
    )


@st.cache_data(**CACHE)
def unit_influence(
    path: str, signature: Signature, text: str, position: int, good: str, bad: str | None = None
) -> list[float]:
    """model.analysis.memory.unit_influence for the prediction of word ``position`` (the state after the word before it).

    Args:
        position: index of the predicted word (1..T; T = after the whole text).
        good, bad: the target words (must be in the vocabulary).

    Returns:
        H non-negative floats, one per unit.

    Raises:
        ValueError: a word the model does not know.
    """

    checkpoint = checkpoint_at(path, signature)
    words = _words(checkpoint.tokenizer, text)
    good_id = word_id(checkpoint.tokenizer, good, "target")
    bad_id = word_id(checkpoint.tokenizer, bad, "contrast") if bad else None
    traces = compute_traces(checkpoint.model, words["input"])
    row = min(max(position, 1), len(words["tokens"]))  # input row `position` has read words 0..position-1
    scores = model_unit_influence(checkpoint.model, traces.layers[-1]["hidden"][row], good_id, bad_id)  # [H]
    return scores.double().tolist()
