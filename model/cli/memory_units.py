"""`python -m model.memory_units`: the units that carry a name's gender across the pronoun suite.

Examples:
    python -m model.memory_units checkpoints/novels-lstm --suite pronoun --json
    python -m model.memory_units checkpoints/novels-rnn checkpoints/novels-lstm checkpoints/novels-gru --suite pronoun

Every template of the suite is run with the man's name (factual) and the woman's (counterfactual).
Each unit alone is transplanted from the woman's run into the man's right after the name; units are
ranked by the share of the swap effect on log P(his) - log P(her) that this carries, pooled over
templates, and each unit's share is reported per distance bucket. Also per bucket: how many of a
template's own top units it takes to carry 80% of the swap (right after the cue and at the word before
the pronoun), how much the top sets at those two words overlap, and how much of the swap is left when
the top 4 / top 16 units are set to their mean right after the cue, on a fresh draw of the suite,
against the same number of random units (--draws seeded draws). Schema: model.analysis.memory.suite.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from model.analysis.memory.suite import suite_memory_units
from model.cli.common import positive_int, report_per_checkpoint, set_offline_defaults
from model.core.checkpoint import Checkpoint
from model.core.runtime import tune_process

set_offline_defaults()

SUITES = ("pronoun",)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of `python -m model.memory_units`."""
    parser = argparse.ArgumentParser(
        prog="python -m model.memory_units", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "checkpoints", metavar="CHECKPOINT", nargs="+", help="one or more checkpoint folders written by model.train"
    )
    parser.add_argument(
        "--suite",
        choices=SUITES,
        default="pronoun",
        help="the built-in suite to run (pronoun: his/her after a title and a name)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the suite draw the units are ranked on; the ablation uses seed + 1 (default 0)",
    )
    parser.add_argument(
        "--templates-per-bucket",
        type=positive_int,
        default=60,
        help="templates per distance bucket (default 60, as model.evaluate)",
    )
    parser.add_argument("--top", type=positive_int, default=16, help="units listed (default 16)")
    parser.add_argument(
        "--draws",
        type=positive_int,
        default=10,
        help="random unit sets per count for the ablation baseline (default 10)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object keyed by checkpoint name instead of a table"
    )
    return parser


def _number(value: float | None, pattern: str = "{:.2f}") -> str:
    return "-" if value is None else pattern.format(value)


def summary(name: str, result: dict[str, Any]) -> list[str]:
    """A readable table of one checkpoint's suite result."""
    lines = [
        f"== {name}: {result['templates']} templates (ranked on seed {result['seed']}, ablated on seed {result['ablation_seed']})"
    ]
    units = ", ".join(f"{unit['part']}{unit['unit']} {unit['effect']:.2f}" for unit in result["units"][:8])
    lines.append(f"memory units (pooled single-unit share right after the cue): {units}")
    lines.append(
        "bucket   swap   need@cue need@target  overlap4 overlap16   top4 left  random4       top16 left  random16"
    )
    for bucket, row in [*result["buckets"].items(), ("all", result["overall"])]:
        ablation = row["ablation"]
        randoms = [f"{_number(ablation[n]['random_mean'])} ± {_number(ablation[n]['random_std'])}" for n in ("4", "16")]
        lines.append(
            f"{bucket:<8} {row['mean_effect']:5.2f}   {_number(row['units_needed']['after_cue'], '{}'):>8} "
            f"{_number(row['units_needed']['before_target'], '{}'):>11}  {row['overlap']['4']:8.2f} {row['overlap']['16']:9.2f}"
            f"   {_number(ablation['4']['top']):>9}  {randoms[0]:<12} {_number(ablation['16']['top']):>10}  {randoms[1]}"
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

    tune_process()

    def analyse(checkpoint: Checkpoint) -> dict[str, Any]:
        started = time.perf_counter()
        result = suite_memory_units(
            checkpoint.model,
            checkpoint.tokenizer,
            seed=args.seed,
            templates_per_bucket=args.templates_per_bucket,
            top=args.top,
            draws=args.draws,
        )
        return dict(result, seconds=round(time.perf_counter() - started, 1))

    return report_per_checkpoint(args.checkpoints, analyse, summary, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
