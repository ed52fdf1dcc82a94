"""One call that explains a typed text: predictions, traces, word influence, gradient flow, ladder.

This is what the app calls per sentence and what ``python -m model.analyze``
prints. The result is plain JSON (lists, numbers, strings, None; no NaN).

Schema of :func:`analyze_text` (T = number of words analysed; position t = the
prediction made after reading word t, i.e. of word t + 1):

    schema          "memory-lab/analysis/1"
    model           {arch, vocab_size, embedding_size, hidden_size, num_layers, decoder}
    text            the text analysed (cut when truncated)
    tokens          [T] words as typed;  offsets [T] [start, end) characters in ``text``
    unknown         [T] bool (word not in the vocabulary -> read as <unk>);  unknown_words [distinct]
    truncated       bool;  original_words int;  num_words T
    predictions     [T] {top: [{word, probability}] (top_k, best first),
                         next_word: word t + 1 or None at the last position,
                         next_probability: P(word t + 1) or None, surprise_bits: -log2 of it or None}
    target          {kind, description, words [T] (good word per position), contrast_word or None,
                     values [T] f_t in nats, last_is_guess (next_word: the last position uses the top guess)}
    influence       {method, definition, matrix [T][T] raw values (row t = target, column s = word;
                     None above the diagonal), baseline and steps (ig, else None), completeness_error
                     (ig, else None), replacement (occlusion: the word put in, else None)}
    occlusion       same shape as influence for method "occlusion" (when with_occlusion and method
                     is not already occlusion), else None
    traces          {arch, layers: [{gate/state name: [T][H]}] bottom layer first, gate_means
                     {name: [T]} (top layer), saturation {name: {below, above, between}}} or None
    gradient_flow   hidden_gradient_flow of the top layer back from the last word (positions index
                     the model inputs, 0 = <eos>) plus "retention" (forget/update-gate products for
                     lstm/gru, else None), or None
    ladder          LadderResult.to_json() (with memory_span and influence_span) or None
    memory_span     the ladder's MemorySpan.to_json() {value, beyond, display, definition, ...} or None
    timings_ms      {predictions_and_traces, influence, occlusion, gradient_flow, ladder, total}
"""

from __future__ import annotations

import functools
import time
from typing import Any

import torch
from torch.nn import functional

from data.files import finite_or_none, json_ready
from data.tokenizer import WordTokenizer
from model.analysis.influence.methods import DEFINITIONS, METHODS, gradient_influence_from_records, word_influence
from model.analysis.inputs import DEFAULT_MAX_WORDS, prepare_input
from model.analysis.memory.gradient_flow import forget_retention, hidden_gradient_flow
from model.analysis.memory.ladder import LadderSpec, run_ladder
from model.analysis.memory.traces import compute_traces, gate_means, saturation
from model.analysis.predictions import prediction_table
from model.analysis.recurrence.device import analysis_mode
from model.analysis.targets import PositionTargets, TargetSpec, resolve_targets, word_id
from model.core.config import CELLS
from model.core.language_model import LanguageModel, model_device

SCHEMA = "memory-lab/analysis/1"


def matrix_to_json(matrix: torch.Tensor) -> list[list[float | None]]:
    """[T, T] tensor -> nested lists, NaN (undefined, above the diagonal) -> None."""
    return json_ready(matrix)


def _predictions(log_probs: torch.Tensor, word_ids: torch.Tensor, tokenizer: WordTokenizer, top_k: int) -> list[dict]:
    """The analysis JSON's rows (schema keys) from the prediction table; row p: after word p ([T, V] log-probs)."""
    table = prediction_table(log_probs, word_ids[1:], tokenizer, top_k)  # row p predicts word p + 1
    rows = []
    for position, top in enumerate(table["top"]):
        row: dict[str, Any] = {
            "top": [{"word": item["word"], "probability": item["prob"]} for item in top],
            "next_word": None,
            "next_probability": None,
            "surprise_bits": None,
        }
        if position < len(table["actual"]):
            actual = table["actual"][position]
            row.update(
                next_word=tokenizer.id_to_token(int(word_ids[position + 1])),
                next_probability=actual["prob"],
                surprise_bits=actual["bits"],
            )
        rows.append(row)
    return rows


def _influence_json(result, tokenizer: WordTokenizer) -> dict:
    details = result.details
    replacement = details.get("replacement_id")
    return {
        "method": result.method,
        "definition": DEFINITIONS[result.method],
        "matrix": matrix_to_json(result.matrix),
        "baseline": details.get("baseline"),
        "steps": details.get("steps"),
        "completeness_error": details.get("completeness_error"),
        "replacement": None if replacement is None else tokenizer.id_to_token(int(replacement)),
    }


def _target_json(spec: TargetSpec, targets: PositionTargets, values: torch.Tensor, tokenizer: WordTokenizer) -> dict:
    return {
        "kind": spec.kind,
        "description": targets.description,
        "words": [tokenizer.id_to_token(int(i)) for i in targets.good.tolist()],
        "contrast_word": spec.contrast,
        "values": [finite_or_none(v) for v in values.tolist()],
        "last_is_guess": targets.last_is_guess,
    }


def _analyze_text(
    model: LanguageModel,
    tokenizer: WordTokenizer,
    text: str,
    *,
    target_word: str | None = None,
    contrast_word: str | None = None,
    method: str = "grad",
    ig_steps: int = 32,
    baseline: str = "unk",
    occlusion_replacement: str | None = None,
    ladder: bool | LadderSpec = False,
    max_words: int = DEFAULT_MAX_WORDS,
    top_k: int = 5,
    with_occlusion: bool = True,
    with_traces: bool = True,
    with_gradient_flow: bool = True,
    gradient_flow_probes: int | None = 16,
) -> dict:
    """Analyse one text with one model; the schema is in the module docstring.

    Args:
        model: a LanguageModel in eval mode (shared safely: no ``.grad``, no train mode, no hooks).
        tokenizer: its tokenizer.
        text: any text; longer than ``max_words`` words is cut (``truncated``).
        target_word: explain log P(target_word) instead of the actual next word.
        contrast_word: with target_word, explain log P(target) - log P(contrast).
        method: influence method, "grad", "gradxinput", "ig" or "occlusion".
        ig_steps: integrated-gradients nodes (Gauss-Legendre).
        baseline: integrated-gradients baseline, "unk" or "zero".
        occlusion_replacement: word put in place of each word by occlusion (None: ``<unk>``).
        ladder: True (default ladder) or a LadderSpec to add the distance ladder and memory span.
        max_words: words analysed at most.
        top_k: predictions listed per position.
        with_occlusion: also return the occlusion matrix next to ``method``'s.
        with_traces: include gate/state traces (large: T x H numbers per trace).
        with_gradient_flow: include the Jacobian-norm gradient flow.
        gradient_flow_probes: random probes for that norm (None: exact, H times the work).

    Returns:
        The JSON-able dict described in the module docstring.

    Raises:
        ValueError: empty text, unknown target/contrast/replacement word, bad method or baseline.

    Example:
        >>> report = analyze_text(model, tokenizer, "Mr. Robert is going on a vacation with", target_word="his", contrast_word="her")
        >>> report["influence"]["matrix"][-1][2]   # "Robert" -> the his/her choice after "with"
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer; got {top_k!r}.")
    spec = TargetSpec.from_words(target_word, contrast_word)
    replacement_id = None if occlusion_replacement is None else word_id(tokenizer, occlusion_replacement, "replacement")
    started = time.perf_counter()
    timings: dict[str, float] = {}
    inputs = prepare_input(tokenizer, text, max_words)
    word_ids = inputs.word_ids  # [T]

    clock = time.perf_counter()
    traces = compute_traces(model, inputs) if with_traces else None
    if traces is not None:
        log_probs = traces.log_probs[1:]  # [T, V]
    else:
        with torch.no_grad():
            log_probs = functional.log_softmax(model(inputs.ids.to(model_device(model)))[0][0, 1:], dim=-1)  # [T, V]
    targets = resolve_targets(spec, tokenizer, word_ids, log_probs)
    predictions = _predictions(log_probs, word_ids, tokenizer, top_k)
    timings["predictions_and_traces"] = time.perf_counter() - clock

    clock = time.perf_counter()
    # The traces already hold every gate of this forward pass: the gradient sweep reuses them.
    recorded = (
        None if traces is None else [{name: value[None] for name, value in layer.items()} for layer in traces.layers]
    )  # [1, T + 1, H] each
    if method in ("grad", "gradxinput"):
        influence = gradient_influence_from_records(model, inputs.ids, targets, method, recorded)
    else:
        influence = word_influence(
            model,
            inputs.ids,
            targets,
            method,
            unk_id=tokenizer.unk_id,
            steps=ig_steps,
            baseline=baseline,
            replacement_id=replacement_id,
        )
    timings["influence"] = time.perf_counter() - clock
    clock = time.perf_counter()
    occlusion = None
    if with_occlusion and method != "occlusion":
        occlusion = word_influence(
            model, inputs.ids, targets, "occlusion", unk_id=tokenizer.unk_id, replacement_id=replacement_id
        )
    timings["occlusion"] = time.perf_counter() - clock

    clock = time.perf_counter()
    flow = None
    if with_gradient_flow and inputs.num_words >= 1:
        flow = hidden_gradient_flow(model, inputs, probes=gradient_flow_probes)
        flow["retention"] = None
        if traces is not None and CELLS[traces.arch].keep_gate is not None:
            flow["retention"] = forget_retention(traces.words(), all_pairs=False)
    timings["gradient_flow"] = time.perf_counter() - clock

    clock = time.perf_counter()
    ladder_json = None
    if ladder:
        ladder_json = run_ladder(model, tokenizer, ladder if isinstance(ladder, LadderSpec) else LadderSpec()).to_json()
    timings["ladder"] = time.perf_counter() - clock
    timings["total"] = time.perf_counter() - started

    config = model.config
    traces_json = None
    if traces is not None:
        words = traces.words()
        traces_json = {
            "arch": words.arch,
            "layers": words.to_json()["layers"],
            "gate_means": gate_means(words),
            "saturation": saturation(words),
        }
    return {
        "schema": SCHEMA,
        "model": {
            "arch": config.arch,
            "vocab_size": config.vocab_size,
            "embedding_size": config.embedding_size,
            "hidden_size": config.hidden_size,
            "num_layers": config.num_layers,
            "decoder": config.decoder,
        },
        "text": inputs.text,
        "tokens": list(inputs.tokens),
        "offsets": [list(span) for span in inputs.encoded.offsets],
        "unknown": list(inputs.encoded.unknown),
        "unknown_words": inputs.encoded.unknown_words,
        "truncated": inputs.truncated,
        "original_words": inputs.original_words,
        "num_words": inputs.num_words,
        "predictions": predictions,
        "target": _target_json(spec, targets, influence.values, tokenizer),
        "influence": _influence_json(influence, tokenizer),
        "occlusion": None if occlusion is None else _influence_json(occlusion, tokenizer),
        "traces": traces_json,
        "gradient_flow": flow,
        "ladder": ladder_json,
        "memory_span": None if ladder_json is None else ladder_json["memory_span"],
        "timings_ms": {name: round(seconds * 1000.0, 2) for name, seconds in timings.items()},
    }


@functools.wraps(_analyze_text)
def analyze_text(model: LanguageModel, tokenizer: WordTokenizer, text: str, **options: Any) -> dict:
    # cuDNN refuses a backward pass in eval mode: switch it off for CUDA models (a no-op on CPU).
    with analysis_mode(model):
        return _analyze_text(model, tokenizer, text, **options)
