"""Wall time and final curves of the default long-range lab (target: at most 2 minutes on 2 CPU cores).

    python -m bench.lab [--gru] [--json] [--seeds 0 1 2]

Runs model.lab.run_lab with its default settings (an RNN and an LSTM of 64 hidden
units trained one after the other), prints one line per measured curve while it
trains, then a table: accuracy at the dependent word per lag for each model, the
chance level, the lags where each model's accuracy first falls below 0.9 and 0.6,
and the wall time, split into training per model and the rest (corpus, vocabulary,
first-call imports). Exits with status 1 when the wall time exceeds --budget or the
lab's claim fails: the LSTM must reach >= 0.95 at some lag where the RNN is <= 0.65.

With several --seeds the whole lab (corpus, initial weights, batch order) is run once
per seed, one after the other, and a last table shows whether the claim holds for each:
a lab that only works for one seed would not be worth showing in a classroom.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from model.cli_common import positive_float, print_json  # noqa: E402
from model.lab import LabConfig, LabResult, run_lab  # noqa: E402
from model.lab_cli import curve_table  # noqa: E402


def claim_holds(result: LabResult) -> list[int]:
    """Lags where the LSTM is >= 0.95 while the RNN is <= 0.65 (empty: the claim fails)."""
    if "rnn" not in result.runs or "lstm" not in result.runs:
        return []
    rnn, lstm = result.runs["rnn"].curve.accuracy, result.runs["lstm"].curve.accuracy
    return [lag for lag in rnn if rnn[lag] <= 0.65 and lstm[lag] >= 0.95]


def run_once(config: LabConfig, budget: float) -> tuple[LabResult, float, list[int]]:
    """One lab run with progress on stderr; prints its table and returns (result, wall seconds, claim lags)."""
    start = time.perf_counter()

    def progress(name, step, curve) -> None:
        points = " ".join(f"{lag}:{value:.2f}" for lag, value in curve.accuracy.items())
        print(f"[{time.perf_counter() - start:6.1f} s] {name:>4} step {step:5d}  {points}", file=sys.stderr, flush=True)

    result = run_lab(config, on_progress=progress)
    wall = time.perf_counter() - start
    print(f"lab seed {config.seed} on {os.cpu_count()} CPU cores, torch threads {config.threads}: wall time {wall:.1f} s (target <= {budget:.0f} s)")
    training = {name: run.train_seconds for name, run in result.runs.items()}
    print("  " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in training.items())
          + f", other {wall - sum(training.values()):.1f} s (corpus, vocabulary, imports)")
    print("\n".join(curve_table(result)))
    lags = claim_holds(result)
    print(f"LSTM >= 0.95 where RNN <= 0.65 at lags: {lags if lags else 'none (claim fails)'}\n")
    return result, wall, lags


def main(argv: list[str] | None = None) -> int:
    """Run the default lab (once per seed) and report wall times and curves."""
    parser = argparse.ArgumentParser(prog="python -m bench.lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gru", action="store_true", help="also train the GRU (not part of the 2-minute target)")
    parser.add_argument("--budget", type=positive_float, default=120.0, help="wall-time target in seconds (default 120)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[LabConfig().seed],
                        help=f"run the lab once per seed, one after the other (default: the lab's own seed, {LabConfig().seed})")
    parser.add_argument("--json", action="store_true", help="print each lab summary as JSON after its table")
    args = parser.parse_args(argv)
    archs = ("rnn", "lstm", "gru") if args.gru else ("rnn", "lstm")
    verdicts = []
    for seed in args.seeds:
        result, wall, lags = run_once(LabConfig(archs=archs, seed=seed), args.budget)
        if args.json:
            print_json(result.summary())
        rnn, lstm = result.runs["rnn"].curve, result.runs["lstm"].curve
        verdicts.append((seed, wall, lags, rnn.first_lag_below(0.6), lstm.first_lag_below(0.9)))
    if len(verdicts) > 1:
        print("seed   wall (s)   claim lags (LSTM >= 0.95, RNN <= 0.65)   RNN first below 0.6   LSTM first below 0.9")
        for seed, wall, lags, rnn_below, lstm_below in verdicts:
            print(f"{seed:>4} {wall:>10.1f}   {str(lags) if lags else 'none (fails)':<40} {str(rnn_below):>19} {str(lstm_below):>20}")
        held = sum(1 for _, _, lags, _, _ in verdicts if lags)
        print(f"claim holds for {held} of {len(verdicts)} seeds")
    return 0 if all(lags and wall <= args.budget for _, wall, lags, _, _ in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
