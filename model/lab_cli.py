"""The command line of the long-range lab: `python -m model.lab` (or `python -m model.lab_cli`).

    python -m model.lab [--lags 3 5 10 20 40 60] [--gru] [--optimizer sgd|adam] [--json]

Progress (one line per measured curve) goes to stderr; the result table, or the
JSON summary with --json, to stdout. A thin layer over model.lab.run_lab.
"""
from __future__ import annotations

import argparse
import sys
import time

from data.long_lag import LagDistribution
from model.cli_common import fail, positive_float, positive_int, print_json
from model.lab import LabConfig, LabResult, run_lab
from model.lag_accuracy import LagCurve


def curve_table(result: LabResult) -> list[str]:
    """Text lines: one row per lag with each model's accuracy and the chance level, then the thresholds."""
    names = list(result.runs)
    lines = ["lag  " + "  ".join(f"{name:>6}" for name in names) + "  chance"]
    for lag in result.config.eval_lags:
        row = "  ".join(f"{result.runs[name].curve.accuracy[lag]:6.3f}" for name in names)
        lines.append(f"{lag:>3}  {row}  {next(iter(result.runs.values())).curve.chance[lag]:6.3f}" if names else f"{lag:>3}")
    for name in names:
        run = result.runs[name]
        below_09, below_06 = run.curve.first_lag_below(0.9), run.curve.first_lag_below(0.6)
        lines.append(f"{name}: accuracy first below 0.9 at lag {below_09 if below_09 is not None else 'never (measured)'}, "
                     f"below 0.6 at lag {below_06 if below_06 is not None else 'never (measured)'}; "
                     f"{run.steps} steps in {run.train_seconds:.1f} s ({run.status})")
    lines.append(f"chance (uniform guess among each cue's closing words): {result.chance:.3f}")
    return lines


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m model.lab``."""
    defaults = LabConfig()
    parser = argparse.ArgumentParser(prog="python -m model.lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lags", type=positive_int, nargs="+", default=list(defaults.eval_lags), help=f"lags to measure on held-out sequences (default {' '.join(map(str, defaults.eval_lags))})")
    parser.add_argument("--gru", action="store_true", help="also train a GRU of the same size")
    parser.add_argument("--train-lags", choices=["fixed", "uniform", "loguniform", "curriculum"], default=defaults.train_lags.kind, help="lag distribution of the training text (default loguniform)")
    parser.add_argument("--min-lag", type=positive_int, default=defaults.train_lags.low, help=f"shortest training lag (default {defaults.train_lags.low})")
    parser.add_argument("--max-lag", type=positive_int, default=defaults.train_lags.high, help=f"longest training lag (default {defaults.train_lags.high})")
    parser.add_argument("--cue-types", type=positive_int, default=defaults.num_cue_types, help=f"cue families: 1 title, 2 +brackets, 3 +either/neither, 4 +quotes (default {defaults.num_cue_types})")
    parser.add_argument("--filler-words", type=positive_int, default=defaults.filler_vocab_size, help=f"distinct filler words (default {defaults.filler_vocab_size})")
    parser.add_argument("--sequences", type=positive_int, default=defaults.num_sequences, help=f"training paragraphs (default {defaults.num_sequences})")
    parser.add_argument("--hidden-size", type=positive_int, default=defaults.hidden_size, help=f"recurrent width of every model (default {defaults.hidden_size})")
    parser.add_argument("--epochs", type=positive_int, default=defaults.epochs, help=f"passes over the training text (default {defaults.epochs})")
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default=defaults.optimizer, help=f"optimizer of every model (default {defaults.optimizer}; adam lets the RNN catch up, see LabConfig)")
    parser.add_argument("--lr", type=positive_float, default=defaults.lr, help=f"learning rate (default {defaults.lr}; try 0.01 with adam)")
    parser.add_argument("--clip", type=positive_float, default=defaults.clip, help=f"clip the global gradient norm to this value (default {defaults.clip})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"seed of corpus and models (default {defaults.seed})")
    parser.add_argument("--eval-every", type=positive_int, default=defaults.eval_every, help=f"steps between measured curves (default {defaults.eval_every})")
    parser.add_argument("--threads", type=positive_int, default=defaults.threads, help="torch CPU threads (default 1: the matrices are tiny)")
    parser.add_argument("--out", default=None, help="keep the checkpoints in OUT/rnn, OUT/lstm (default: discarded)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the lab from the command line; progress goes to stderr, the result to stdout."""
    args = build_parser().parse_args(argv)
    try:
        lags = LagDistribution(args.train_lags, args.min_lag, args.max_lag if args.train_lags != "fixed" else args.min_lag,
                               blocks=LabConfig.batch_size if args.train_lags == "curriculum" else 1)
        config = LabConfig(archs=("rnn", "lstm", "gru") if args.gru else ("rnn", "lstm"), eval_lags=tuple(sorted(set(args.lags))),
                           train_lags=lags, filler_vocab_size=args.filler_words, num_cue_types=args.cue_types,
                           num_sequences=args.sequences, seed=args.seed, hidden_size=args.hidden_size, optimizer=args.optimizer, lr=args.lr, clip=args.clip,
                           epochs=args.epochs, eval_every=args.eval_every, threads=args.threads, out=args.out,
                           bptt=max(LabConfig.bptt, 2 * max(args.lags), 2 * args.max_lag))
        config.validate()
    except ValueError as error:
        fail(str(error))
    start = time.perf_counter()

    def progress(name: str, step: int, curve: LagCurve) -> None:
        if not args.quiet:
            points = " ".join(f"{lag}:{value:.2f}" for lag, value in curve.accuracy.items())
            print(f"[{time.perf_counter() - start:6.1f} s] {name:>4} step {step:5d}  accuracy by lag  {points}", file=sys.stderr, flush=True)

    result = run_lab(config, on_progress=progress)
    if args.json:
        print_json(result.summary())
    else:
        print(f"long-range dependency lab: {', '.join(result.runs)} (hidden {config.hidden_size}), "
              f"accuracy at the dependent word vs lag (tokens from cue), {config.eval_per_lag} held-out sequences per lag")
        print("\n".join(curve_table(result)))
        print(f"wall time: {result.wall_seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
