"""The command line of the long-range lab: `python -m model.lab`.

    python -m model.lab [--seeds 16] [--lags 3 5 10 20 40 60] [--json]

Progress (the plan, then one line per measurement) goes to stderr; the result table,
or the JSON summary with --json, to stdout. A thin layer over model.lab.run_lab.
"""

from __future__ import annotations

import argparse
import sys
import time

from data.long_lag import FILLER_PATTERNS, LAG_KINDS, LagDistribution
from model.cli.common import fail, positive_float, positive_int, print_json
from model.lab.run import LEARNED, LabConfig, LabPlan, LabResult, LagShare, run_lab


def share_table(result: LabResult) -> list[str]:
    """Text lines: per lag and architecture, the seeds that learned it and the mean [min, max] accuracy; then timing."""
    names = list(result.runs)
    seeds = result.config.seeds
    header = "lag  " + "  ".join(f"{name.upper() + ': learned, mean [min, max]':<34}" for name in names) + "chance"
    lines = [header]
    shares = {name: {share.lag: share for share in run.shares()} for name, run in result.runs.items()}
    for lag in result.config.eval_lags:
        cells = []
        for name in names:
            share = shares[name][lag]
            cells.append(
                f"{share.learned:>2} of {seeds:<2} {share.mean_accuracy:.2f} [{share.min_accuracy:.2f}, {share.max_accuracy:.2f}]".ljust(
                    34
                )
            )
        lines.append(f"{lag:>3}  " + "  ".join(cells) + f"{result.chance[lag]:.2f}")
    for name, run in result.runs.items():
        lines.append(
            f"{name}: hidden {run.hidden_size}, {run.parameters} parameters per seed; {run.run.steps} steps of {seeds} seeds in "
            f"{run.run.seconds:.1f} s ({1000 * run.run.seconds_per_step:.1f} ms per step), measuring {run.eval_seconds:.1f} s ({run.run.status})"
        )
    lines.append(
        f"learned = accuracy >= {LEARNED} on that lag's held-out sequences; chance = a uniform guess among each cue's closing words"
    )
    return lines


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m model.lab``."""
    defaults = LabConfig()
    parser = argparse.ArgumentParser(
        prog="python -m model.lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seeds",
        type=positive_int,
        default=defaults.seeds,
        help=f"seeds per architecture, trained at once (seeds FIRST .. FIRST+N-1; default {defaults.seeds})",
    )
    parser.add_argument(
        "--first-seed", type=int, default=defaults.first_seed, help=f"the first seed (default {defaults.first_seed})"
    )
    parser.add_argument(
        "--archs",
        nargs="+",
        choices=["rnn", "lstm"],
        default=list(defaults.archs),
        help="architectures to train (default: rnn lstm)",
    )
    parser.add_argument(
        "--lags",
        type=positive_int,
        nargs="+",
        default=list(defaults.eval_lags),
        help=f"lags to measure on held-out sequences (default {' '.join(map(str, defaults.eval_lags))})",
    )
    parser.add_argument(
        "--train-lags",
        choices=list(LAG_KINDS),
        default=defaults.train_lags.kind,
        help=f"lag distribution of the training text (default {defaults.train_lags.kind})",
    )
    parser.add_argument(
        "--min-lag",
        type=positive_int,
        default=defaults.train_lags.low,
        help=f"shortest training lag (default {defaults.train_lags.low})",
    )
    parser.add_argument(
        "--max-lag",
        type=positive_int,
        default=defaults.train_lags.high,
        help=f"longest training lag (default {defaults.train_lags.high})",
    )
    parser.add_argument(
        "--cue-types",
        type=positive_int,
        default=defaults.num_cue_types,
        help=f"cue families: 1 title, 2 +brackets, 3 +either/neither, 4 +quotes (default {defaults.num_cue_types})",
    )
    parser.add_argument(
        "--filler-words",
        type=positive_int,
        default=defaults.filler_vocab_size,
        help=f"distinct filler words (default {defaults.filler_vocab_size})",
    )
    parser.add_argument(
        "--filler-pattern",
        choices=list(FILLER_PATTERNS),
        default=defaults.filler_pattern,
        help=f"random filler, or echo: triples x y x the model must also predict (default {defaults.filler_pattern})",
    )
    parser.add_argument(
        "--distractors",
        type=float,
        default=defaults.distractor_rate,
        help=f"share of filler words replaced by another opener of the cue's family (default {defaults.distractor_rate})",
    )
    parser.add_argument(
        "--sequences",
        type=positive_int,
        default=defaults.num_sequences,
        help=f"training paragraphs in the pool every seed reads (default {defaults.num_sequences})",
    )
    parser.add_argument(
        "--hidden-size",
        type=positive_int,
        default=defaults.lstm_hidden_size,
        help=f"the LSTM's width; the RNN gets as many parameters (default {defaults.lstm_hidden_size})",
    )
    parser.add_argument(
        "--rnn-hidden-size",
        type=positive_int,
        default=None,
        help="the RNN's width (default: as many parameters as the LSTM)",
    )
    parser.add_argument(
        "--forget-bias",
        type=float,
        default=defaults.forget_bias,
        help=f"the LSTM's starting forget-gate bias (default {defaults.forget_bias})",
    )
    parser.add_argument(
        "--steps", type=positive_int, default=defaults.steps, help=f"SGD steps per seed (default {defaults.steps})"
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=defaults.batch_size,
        help=f"rows per seed and step (default {defaults.batch_size})",
    )
    parser.add_argument(
        "--lr", type=positive_float, default=defaults.lr, help=f"SGD learning rate (default {defaults.lr})"
    )
    parser.add_argument(
        "--clip",
        type=positive_float,
        default=defaults.clip,
        help=f"clip each seed's gradient norm to this value (default {defaults.clip})",
    )
    parser.add_argument(
        "--eval-every",
        type=positive_int,
        default=defaults.eval_every,
        help=f"steps between measurements (default {defaults.eval_every})",
    )
    parser.add_argument(
        "--threads", type=positive_int, default=defaults.threads, help=f"torch CPU threads (default {defaults.threads})"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def config_from_args(args: argparse.Namespace) -> LabConfig:
    """The LabConfig the flags ask for (raises ValueError on a setting that cannot work)."""
    defaults = LabConfig()
    lags = LagDistribution(
        args.train_lags,
        args.min_lag,
        args.max_lag if args.train_lags != "fixed" else args.min_lag,
        blocks=args.batch_size if args.train_lags == "curriculum" else 1,
    )
    config = LabConfig(
        archs=tuple(dict.fromkeys(args.archs)),
        seeds=args.seeds,
        first_seed=args.first_seed,
        eval_lags=tuple(sorted(set(args.lags))),
        train_lags=lags,
        filler_vocab_size=args.filler_words,
        num_cue_types=args.cue_types,
        num_sequences=args.sequences,
        filler_pattern=args.filler_pattern,
        distractor_rate=args.distractors,
        lstm_hidden_size=args.hidden_size,
        rnn_hidden_size=args.rnn_hidden_size,
        forget_bias=args.forget_bias,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        clip=args.clip,
        eval_every=args.eval_every,
        threads=args.threads,
        bptt=max(defaults.bptt, 2 * max(args.lags), 2 * args.max_lag),
    )
    config.validate()
    return config


def main(argv: list[str] | None = None) -> int:
    """Run the lab from the command line; progress goes to stderr, the result to stdout."""
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as error:
        fail(str(error))
    start = time.perf_counter()

    def say(text: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - start:6.1f} s] {text}", file=sys.stderr, flush=True)

    def plan(measured: LabPlan) -> None:
        steps = ", ".join(f"{arch} {1000 * seconds:.0f} ms" for arch, seconds in measured.seconds_per_step.items())
        say(
            f"one step of {measured.seeds} seeds: {steps}; expected {measured.expected_seconds:.0f} s for {measured.steps} steps each"
        )

    def progress(name: str, step: int, shares: list[LagShare]) -> None:
        say(f"{name:>4} step {step:5d}  seeds learned by lag  " + " ".join(f"{s.lag}:{s.learned}" for s in shares))

    result = run_lab(config, on_plan=plan, on_progress=progress)
    if args.json:
        print_json(result.summary())
    else:
        print(
            f"long-range dependency lab: {', '.join(result.runs)}, {config.seeds} seeds each (seeds {config.first_seed}-{config.first_seed + config.seeds - 1}), "
            f"accuracy at the dependent word vs lag (tokens from cue), {config.eval_per_lag} held-out sequences per lag"
        )
        print("\n".join(share_table(result)))
        print(
            f"wall time: {result.wall_seconds:.1f} s (expected {result.plan.expected_seconds:.1f} s from one timed step)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
