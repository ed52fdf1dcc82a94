"""`python -m model.analyze`: explain one text with one or more checkpoints.

Examples:
    python -m model.analyze checkpoints/novels-lstm checkpoints/novels-rnn \\
        --text "Mr. Robert is going on a vacation with" --target-word his --contrast her --ladder
    python -m model.analyze checkpoints/novels-lstm --text "It was a dark and stormy night" --method ig --json

For every checkpoint: next-word predictions at every word, gate/state traces,
how much each earlier word influences each later prediction (--method), the
occlusion matrix, gradient flow and, with --ladder, the distance ladder and the
memory span. --json prints one object keyed by checkpoint name whose values
follow the schema of model.analysis.report.analyze_text; without it a short
summary is printed.
"""

from __future__ import annotations

import argparse
from typing import Any

from data.echo import shown
from model.analysis.report import analyze_text
from model.cli.common import bounded_int, fail, one_line_errors, report_per_checkpoint, set_offline_defaults
from model.core.checkpoint import Checkpoint
from model.core.config import CELLS
from model.core.runtime import tune_process

set_offline_defaults()

METHOD_CHOICES = ("grad", "gradxinput", "ig", "occlusion")
MAX_IG_STEPS = 256
MAX_WORDS_LIMIT = 5000
MAX_TOP_K = 1000
# Memory of one full analysis, from the peak RSS growth of model.analyze's work on the shipped 512-unit
# models (RNN, LSTM and GRU, 100 to 800 words; e.g. the LSTM grew 0.47 GB at 200 words and 3.2 GB at
# 800). A least-squares fit gave 0.42 float32 numbers per pair of words and unit of gate width plus
# embedding, 10 per word and vocabulary entry, and 0.18 GB fixed; these are rounded up so that the
# estimate is above every measurement (by 1.2x to 1.8x).
QUADRATIC_FACTOR = 0.6
LINEAR_FACTOR = 16.0
FIXED_BYTES = 200 * 2**20
MEMORY_SHARE = 0.8  # refuse what would need more than this share of the memory available now


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of `python -m model.analyze`."""
    parser = argparse.ArgumentParser(
        prog="python -m model.analyze", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "checkpoints", metavar="CHECKPOINT", nargs="+", help="one or more checkpoint folders written by model.train"
    )
    parser.add_argument("--text", required=True, help="the text to analyse (quote it)")
    parser.add_argument(
        "--target-word", default=None, help="explain log P(this word) at every position instead of the actual next word"
    )
    parser.add_argument(
        "--contrast",
        default=None,
        help="with --target-word: explain log P(target) - log P(this word), e.g. --target-word his --contrast her",
    )
    parser.add_argument(
        "--method",
        choices=METHOD_CHOICES,
        default="grad",
        help="word influence: grad (gradient norm), gradxinput, ig (integrated gradients) or occlusion (default grad)",
    )
    parser.add_argument(
        "--ig-steps",
        type=bounded_int(1, MAX_IG_STEPS, "each step is one more pass over the text"),
        default=32,
        help=f"integrated-gradients steps, Gauss-Legendre nodes (default 32, at most {MAX_IG_STEPS})",
    )
    parser.add_argument(
        "--baseline",
        choices=("unk", "zero"),
        default="unk",
        help="integrated-gradients baseline: the <unk> embedding or zeros (default unk)",
    )
    parser.add_argument(
        "--replacement", default=None, help="occlusion puts this word in place of each word (default <unk>), e.g. Mary"
    )
    parser.add_argument(
        "--ladder",
        action="store_true",
        help="also run the distance ladder (Robert ... his vs her) and report the memory span",
    )
    parser.add_argument(
        "--max-words",
        type=bounded_int(1, MAX_WORDS_LIMIT, "the analysis grows with words squared"),
        default=400,
        help=f"analyse at most this many words (default 400, at most {MAX_WORDS_LIMIT:,}; refused when the machine's memory would not hold it)",
    )
    parser.add_argument(
        "--top-k",
        type=bounded_int(1, MAX_TOP_K, "predictions listed per position"),
        default=5,
        help=f"predictions listed per position (default 5, at most {MAX_TOP_K:,})",
    )
    parser.add_argument(
        "--no-occlusion", action="store_true", help="skip the occlusion matrix that comes with the other methods"
    )
    parser.add_argument(
        "--no-traces", action="store_true", help="leave out the gate/state traces (large: words x units numbers each)"
    )
    parser.add_argument("--no-gradient-flow", action="store_true", help="leave out the Jacobian-norm gradient flow")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object keyed by checkpoint name instead of a summary"
    )
    return parser


def analysis_memory_bytes(config: Any, words: int, method: str = "grad", ig_steps: int = 32) -> int:
    """An upper estimate of the memory one analysis of ``words`` words takes with a model of ``config``.

    Args:
        config: the model's ModelConfig.
        words: words analysed (after --max-words).
        method: the influence method; integrated gradients adds one [steps, words, embedding] batch.
        ig_steps: its steps.

    Returns:
        Bytes: FIXED_BYTES + LINEAR_FACTOR x 4 x words x vocabulary + QUADRATIC_FACTOR x 4 x words^2
        x (gates x hidden + embedding) x layers (+ the integrated-gradients batch).
    """
    width = (CELLS[config.arch].gate_blocks * config.hidden_size + config.embedding_size) * config.num_layers
    total = FIXED_BYTES + LINEAR_FACTOR * 4 * words * config.vocab_size + QUADRATIC_FACTOR * 4 * words**2 * width
    if method == "ig":
        total += (
            4.0
            * ig_steps
            * words
            * (config.embedding_size + CELLS[config.arch].gate_blocks * config.hidden_size * config.num_layers)
            * 2
        )
    return int(total)


def available_memory_bytes() -> int | None:
    """Memory this process may still use: MemAvailable, capped by a cgroup limit when one is set (None if unknown)."""
    available = None
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as stream:
            limit = stream.read().strip()
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as stream:
            used = int(stream.read().strip())
        if limit.isdigit():
            room = int(limit) - used
            available = room if available is None else min(available, room)
    except (OSError, ValueError):
        pass
    return available


def check_memory(config: Any, words: int, method: str, ig_steps: int, available: int | None) -> None:
    """Refuse an analysis whose estimate exceeds MEMORY_SHARE of ``available``, with the estimate and the way out.

    Raises:
        ValueError: naming the words, the estimate, the memory available and a --max-words that fits.
    """
    if available is None:
        return
    needed = analysis_memory_bytes(config, words, method, ig_steps)
    budget = MEMORY_SHARE * available
    if needed <= budget:
        return
    fitting = words
    while fitting > 1 and analysis_memory_bytes(config, fitting, method, ig_steps) > budget:
        fitting = int(fitting * 0.9)
    raise ValueError(
        f"analysing {words:,} words with this model ({config.arch}, {config.hidden_size} units, {config.vocab_size:,} words) "
        f"would need about {needed / 2**30:.1f} GiB (the cost grows with words squared), but about {available / 2**30:.1f} GiB "
        f"of memory is available. Pass --max-words {max(1, fitting):,} or fewer, or use a machine with more memory."
    )


def summary(name: str, report: dict[str, Any]) -> list[str]:
    """A few readable lines about one checkpoint's report."""
    lines = [f"== {name} ({report['model']['arch']}, {report['model']['hidden_size']} units)"]
    if report["unknown_words"]:
        lines.append(f"unknown words (read as <unk>): {', '.join(report['unknown_words'])}")
    if report["truncated"]:
        lines.append(f"text cut to its first {report['num_words']} of {report['original_words']} words")
    last = report["predictions"][-1]["top"]
    lines.append("next word: " + ", ".join(f"{item['word']} {item['probability']:.3f}" for item in last))
    influence = report["influence"]
    row = influence["matrix"][-1]
    ranked = sorted((index for index, value in enumerate(row) if value is not None), key=lambda i: -abs(row[i]))[:5]
    value = report["target"]["values"][-1]
    shown = "undefined" if value is None else f"{value:.3f}"
    lines.append(f"target: {report['target']['description']} = {shown} nats at the last position")
    lines.append(
        f"most influential words ({influence['method']}): "
        + ", ".join(f"{report['tokens'][i]} {row[i]:.3g}" for i in ranked)
    )
    if influence["completeness_error"] is not None:
        lines.append(f"integrated-gradients completeness error: {influence['completeness_error']:.2%}")
    if report["ladder"] is not None:
        ladder = report["ladder"]
        lines.append("ladder distance: " + " ".join(f"{d:>6}" for d in ladder["distances"]))
        lines.append("contrast (nats): " + " ".join(f"{c:>6.2f}" for c in ladder["contrast"]))
        lines.append(f"memory span: {report['memory_span']['display']}  ({report['memory_span']['definition']})")
    lines.append(
        "time: " + ", ".join(f"{key} {value:.0f} ms" for key, value in report["timings_ms"].items() if value >= 0.5)
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: arguments without the program name (None: sys.argv[1:]).

    Returns:
        0 on success; errors exit with status 2.
    """
    args = build_parser().parse_args(argv)
    with one_line_errors():
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    if args.contrast and not args.target_word:
        fail(f"--contrast {shown(args.contrast)} needs --target-word too, e.g. --target-word his --contrast her.")

    tune_process()  # see model/core/runtime.py: steadier, faster large analyses

    def analyse(checkpoint: Checkpoint) -> dict[str, Any]:
        words = min(len(checkpoint.tokenizer.encode(args.text)), args.max_words)
        check_memory(checkpoint.config, words, args.method, args.ig_steps, available_memory_bytes())
        return analyze_text(
            checkpoint.model,
            checkpoint.tokenizer,
            args.text,
            target_word=args.target_word,
            contrast_word=args.contrast,
            method=args.method,
            ig_steps=args.ig_steps,
            baseline=args.baseline,
            occlusion_replacement=args.replacement,
            ladder=args.ladder,
            max_words=args.max_words,
            top_k=args.top_k,
            with_occlusion=not args.no_occlusion,
            with_traces=not args.no_traces,
            with_gradient_flow=not args.no_gradient_flow,
        )

    return report_per_checkpoint(args.checkpoints, analyse, summary, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
