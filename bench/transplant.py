"""Time of the transplant sweep per model, as a ratio to one forward pass.

    python -m bench.transplant [--checkpoints checkpoints/novels-rnn checkpoints/novels-lstm checkpoints/novels-gru]
                               [--lengths 25 80] [--repeats 5] [--threads N]

For each model and length (words, the cue "Mr. Robert" first, the target log P(his) - log P(her)
read after the last word, so the sweep spans the whole text) it prints, median of --repeats:

    forward   one forward pass of the fused module over the text (no gradient): the unit of the ratios
    record    both runs unrolled with every state recorded, and d target / d state at every word
    sweep     the full sweep: every word k from the cue to the end, whole state, h and c (LSTM),
              top 1/4/16 by gradient at k and the first 1/4/16 memory units, one staircase batch
    units     the memory units: every unit alone after the cue and before the target, and the
              cumulative top-n counts
    report    transplant_report end to end (what the app's tab and the CLI run)

and the cell steps of the sweep's staircase against re-running each row's prefix (which the sweep
never does): rows x steps with the prefix re-run would be rows x (p + 1).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from model.analysis.inputs import prepare_input  # noqa: E402
from model.analysis.memory.transplant import record_pair  # noqa: E402
from model.analysis.memory.transplant_report import pair_summary, transplant_report  # noqa: E402
from model.analysis.memory.transplant_sweep import DEFAULT_COUNTS, sweep_masks, transplant_sweep  # noqa: E402
from model.analysis.memory.units import scope_mask  # noqa: E402
from model.cli.common import positive_int  # noqa: E402
from model.core.checkpoint import Checkpoint, load_checkpoint  # noqa: E402
from model.core.runtime import tune_process  # noqa: E402

DEFAULT_CHECKPOINTS = ("checkpoints/novels-rnn", "checkpoints/novels-lstm", "checkpoints/novels-gru")
# Gender-neutral filler after the cue (the pronoun suite's clauses), so the swap's only trace is the memory.
FILLER = (
    ", who had been out in the rain all the afternoon, came slowly across the lawn, while the rain beat against the "
    "windows, as the clock in the hall struck four, though the fire was almost out, for the house was very quiet that "
    "evening, when the carriage had gone down the road, after a long and silent dinner, and at last shook"
)


def texts(words: int) -> tuple[str, str]:
    """A factual and a counterfactual text of at least ``words`` tokens (cut by max_words later)."""
    text = "Mr. Robert" + FILLER * (words // 60 + 1)
    return text, text.replace("Mr. Robert", "Mrs. Mary", 1)


def median_ms(function: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``function`` in milliseconds, after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def measure(checkpoint: Checkpoint, words: int, repeats: int) -> dict[str, float]:
    """Median milliseconds of each part, the ratios to one forward pass and the staircase's cell steps."""
    model, tokenizer = checkpoint.model, checkpoint.tokenizer
    text, swapped = texts(words)
    factual, counter = prepare_input(tokenizer, text, words), prepare_input(tokenizer, swapped, words)
    his, her = tokenizer.token_to_id("his"), tokenizer.token_to_id("her")
    p = factual.num_words - 1

    def forward() -> None:
        with torch.no_grad():
            model(factual.ids)

    def record():
        return record_pair(model, factual.ids[0], counter.ids[0], p, his, her)

    pair = record()
    scope = scope_mask(pair)
    _, fixed = pair_summary(model, pair, scope)
    ks, _, _ = sweep_masks(pair, scope, DEFAULT_COUNTS, fixed)
    staircase = sum(p - k for k in ks)  # cell steps of the sweep's rows
    rerun = len(ks) * (p + 1)  # the same rows with each prefix re-run
    result = {
        "forward": median_ms(forward, repeats),
        "record": median_ms(record, repeats),
        "sweep": median_ms(lambda: transplant_sweep(model, pair, scope, DEFAULT_COUNTS, fixed), repeats),
        "units": median_ms(lambda: pair_summary(model, pair, scope), repeats),
        "report": median_ms(
            lambda: transplant_report(
                model,
                tokenizer,
                text,
                counterfactual=swapped,
                target_word="his",
                contrast_word="her",
                target_index=factual.num_words,
                max_words=words,
            ),
            max(1, repeats // 2),
        ),
        "rows": len(ks),
        "staircase_steps": staircase,
        "rerun_steps": rerun,
        "words": factual.num_words,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.transplant", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--checkpoints", nargs="+", default=list(DEFAULT_CHECKPOINTS), help="checkpoint folders to time"
    )
    parser.add_argument(
        "--lengths", nargs="+", type=positive_int, default=[25, 80], help="text lengths in words (default 25 80)"
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=5, help="timed runs per part; the median is printed (default 5)"
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=len(os.sched_getaffinity(0)),
        help="torch threads (default: the CPUs this process may use)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    tune_process()
    print(f"torch threads: {args.threads}; median of {args.repeats} (report: of {max(1, args.repeats // 2)}), ms")
    print(
        f"{'model':<14}{'words':>6}{'forward':>10}{'record':>10}{'sweep':>10}{'units':>10}{'report':>10}"
        f"{'sweep/fwd':>11}{'rec+sweep/fwd':>15}  rows  staircase steps vs re-run"
    )
    for path in args.checkpoints:
        checkpoint = load_checkpoint(path)
        for words in args.lengths:
            r = measure(checkpoint, words, args.repeats)
            print(
                f"{checkpoint.name:<14}{r['words']:>6}{r['forward']:>10.2f}{r['record']:>10.1f}{r['sweep']:>10.1f}{r['units']:>10.1f}"
                f"{r['report']:>10.1f}{r['sweep'] / r['forward']:>10.1f}x{(r['record'] + r['sweep']) / r['forward']:>14.1f}x"
                f"  {r['rows']:>4}  {r['staircase_steps']:,} vs {r['rerun_steps']:,}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
