"""Latency of every analysis the app runs per sentence, for the shipped LSTM and RNN.

    python -m bench.analysis_latency [--checkpoints checkpoints/novels-lstm checkpoints/novels-rnn]
                                     [--lengths 12 25 50 100 200] [--repeats 5] [--threads 2]

Prints, median of --repeats runs (IG and the naive loop: fewer at >= 100 words):
1. per model and sentence length (words): forward with traces, all-pairs gradient
   influence (one batched sweep: "grad" with the hand-written recorded engine the app
   uses, "autograd" with autograd's batched cotangents), the naive loop (one backward
   per target) and the speed-up of "grad" over it, gradient x input, occlusion,
   integrated gradients at 32 steps; and the "grad" sweep's matrix-product FLOPs per second as a
   share of this machine's measured fp32 matmul peak ("peak %", the FLOP formula in sweep_gflop);
2. the 10-rung ladder per model;
3. the "full default analysis" (predictions at every position, traces, all-pairs
   gradient influence and occlusion: analyze_text without gradient flow) for all
   models together at 25 and 200 words, and the ladder for all models together,
   against the targets (<= 60 ms at 25 words, <= 1 s at 200 words, <= 300 ms);
   then the full analysis again with one Python thread per model (1 torch thread
   each), and the 200-word full analysis with the matrix products left to
   PyTorch's default (MKL) instead of oneDNN (model/analysis/recurrence/onednn.py), for the ratio.

Like the app, the bench first tunes the process (model/core/runtime.py: glibc's malloc
thresholds, oneDNN's kernel cache); pass --no-process-tuning to measure without,
--no-onednn to use F.linear throughout.

Sentences are the fixed seed text below, repeated and cut to each length.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from typing import Callable

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from model.analysis.influence.methods import gradient_influence, integrated_gradients  # noqa: E402
from model.analysis.influence.occlusion import occlusion_influence  # noqa: E402
from model.analysis.influence.reference import autograd_gradient_influence, naive_gradient_influence  # noqa: E402
from model.analysis.inputs import prepare_input  # noqa: E402
from model.analysis.memory.ladder import LadderSpec, run_ladder  # noqa: E402
from model.analysis.memory.traces import compute_traces  # noqa: E402
from model.analysis.recurrence import onednn  # noqa: E402
from model.analysis.report import analyze_text  # noqa: E402
from model.analysis.targets import TargetSpec, resolve_targets  # noqa: E402
from model.cli.common import positive_int  # noqa: E402
from model.core.checkpoint import Checkpoint, load_checkpoint  # noqa: E402
from model.core.config import CELLS  # noqa: E402
from model.core.runtime import ProcessTuning, tune_process  # noqa: E402

DEFAULT_CHECKPOINTS = ("checkpoints/novels-lstm", "checkpoints/novels-rnn")
SEED_TEXT = (
    "Mr. Robert is going on a vacation with his wife to Hawaii next month. He had worked hard all year, "
    "and when the letter from the bank came at last, he read it twice by the window before he told her "
    "what it said. The house was quiet; the children were asleep upstairs, and the old clock in the hall "
    "struck ten as he folded the paper and put it in his pocket. "
)
FULL_TARGETS_MS = {25: 60.0, 200: 1000.0}  # words -> target for all models together
LADDER_TARGET_MS = 300.0
PARTS = ("traces", "grad", "peak %", "autograd", "naive", "speedup", "gradxinput", "occlusion", "ig32")
PEAK_SIZE = 1024


def matmul_peak_gflops(repeats: int = 7) -> float:
    """This machine's fp32 matrix-product rate at this process's thread count, in GFLOP/s: the best of
    ``repeats`` [1024, 1024] x [1024, 1024] products (2 * 1024^3 FLOP each), after one warm-up."""
    a, b = torch.randn(PEAK_SIZE, PEAK_SIZE), torch.randn(PEAK_SIZE, PEAK_SIZE)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * PEAK_SIZE**3 / best / 1e9


def sweep_gflop(config, words: int) -> float:
    """Matrix-product GFLOP of the all-pairs gradient sweep over ``words`` targets (the "grad" column).

    With T = words, G gates (RNN 1, GRU 3, LSTM 4), H units and layer inputs I_l (E, then H):
        forward with records   T * sum_l 2 G H (I_l + H)                x W_ih and h W_hh at every step
        backward               T (T + 1) / 2 * sum_l 2 G H (I_l + H)    at step s every target t >= s
                                                                        carries a row: dg W_hh and dg W_ih
    The decoder and the element-wise gate work are left out, so the share of the peak is a lower bound.
    """
    gates, hidden = CELLS[config.arch].gate_blocks, config.hidden_size
    inputs = [config.embedding_size] + [hidden] * (config.num_layers - 1)
    per_row_step = sum(2 * gates * hidden * (size + hidden) for size in inputs)
    return (words + words * (words + 1) / 2) * per_row_step / 1e9


def sentence(words: int) -> str:
    """The seed text repeated until it has at least ``words`` tokens (cut later by max_words)."""
    return SEED_TEXT * (words // 40 + 2)


def median_ms(function: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``function`` in milliseconds, after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def find_checkpoints(paths: list[str] | None) -> list[str]:
    """The given paths, else the shipped ones that exist, else any checkpoint under checkpoints/."""
    if paths:
        return paths
    found = [path for path in DEFAULT_CHECKPOINTS if os.path.isfile(os.path.join(path, "config.json"))]
    if found:
        return found
    root = "checkpoints"
    others = sorted(os.path.join(root, name) for name in os.listdir(root)) if os.path.isdir(root) else []
    return [path for path in others if os.path.isfile(os.path.join(path, "config.json"))]


PEAK_GFLOPS: list[float] = []  # measured once in main, before the table


def time_parts(checkpoint: Checkpoint, words: int, repeats: int) -> dict[str, float]:
    """Milliseconds of each analysis part for one model at one sentence length."""
    model, tokenizer = checkpoint.model, checkpoint.tokenizer
    inputs = prepare_input(tokenizer, sentence(words), max_words=words)
    traces = compute_traces(model, inputs)
    targets = resolve_targets(TargetSpec(), tokenizer, inputs.word_ids, traces.log_probs[1:])
    slow_repeats = max(1, repeats // 3) if words >= 100 else repeats
    row = {
        "traces": median_ms(lambda: compute_traces(model, inputs), repeats),
        "grad": median_ms(lambda: gradient_influence(model, inputs.ids, targets, "grad"), repeats),
        "autograd": median_ms(lambda: autograd_gradient_influence(model, inputs.ids, targets, "grad"), repeats),
        "naive": median_ms(lambda: naive_gradient_influence(model, inputs.ids, targets, "grad"), slow_repeats),
        "gradxinput": median_ms(lambda: gradient_influence(model, inputs.ids, targets, "gradxinput"), repeats),
        "occlusion": median_ms(lambda: occlusion_influence(model, inputs.ids, targets, tokenizer.unk_id), repeats),
        "ig32": median_ms(
            lambda: integrated_gradients(model, inputs.ids, targets, tokenizer.unk_id, steps=32), slow_repeats
        ),
    }
    row["speedup"] = row["naive"] / row["grad"]
    row["peak %"] = 100 * sweep_gflop(model.config, inputs.num_words) / (row["grad"] / 1000) / PEAK_GFLOPS[0]
    return row


def full_default(checkpoints: list[Checkpoint], words: int) -> None:
    """analyze_text without gradient flow: predictions, traces, all-pairs grad influence, occlusion."""
    for checkpoint in checkpoints:
        analyze_text(checkpoint.model, checkpoint.tokenizer, sentence(words), max_words=words, with_gradient_flow=False)


def full_default_threads(checkpoints: list[Checkpoint], words: int) -> None:
    """The same, one Python thread per model and one torch thread each (how an app can use 2 cores)."""
    threads = [threading.Thread(target=full_default, args=([checkpoint], words)) for checkpoint in checkpoints]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def ladder_all(checkpoints: list[Checkpoint]) -> None:
    for checkpoint in checkpoints:
        run_ladder(checkpoint.model, checkpoint.tokenizer, LadderSpec(rungs=10))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the tables; returns 0 (2 when no checkpoint is found)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.analysis_latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--checkpoints",
        nargs="+",
        default=None,
        help="checkpoint folders (default: checkpoints/novels-lstm and novels-rnn, else any under checkpoints/)",
    )
    parser.add_argument(
        "--lengths",
        nargs="+",
        type=positive_int,
        default=[12, 25, 50, 100, 200],
        help="sentence lengths in words (default 12 25 50 100 200)",
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=5, help="timed repeats per measurement; the median is shown (default 5)"
    )
    parser.add_argument(
        "--full-lengths",
        nargs="*",
        type=positive_int,
        default=[25, 200],
        help="lengths for the full default analysis of all models together (default 25 200)",
    )
    parser.add_argument("--threads", type=positive_int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument(
        "--no-process-tuning",
        action="store_true",
        help="leave glibc's malloc thresholds and oneDNN's kernel cache at their defaults "
        "(the app tunes both: model/core/runtime.py)",
    )
    parser.add_argument(
        "--no-onednn",
        action="store_true",
        help="send every analysis matrix product through F.linear (MKL) instead of oneDNN",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    tuning = ProcessTuning(allocator=False, onednn_cache_capacity=None) if args.no_process_tuning else tune_process()
    onednn.set_enabled(False if args.no_onednn else None)  # None: the app's choice, by the start-up probe
    paths = find_checkpoints(args.checkpoints)
    if not paths:
        print("error: no checkpoint found; pass --checkpoints or train checkpoints/novels-lstm first.", file=sys.stderr)
        return 2
    checkpoints = [load_checkpoint(path) for path in paths]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; median of {args.repeats} (ms)"
    )
    probe = (
        f"probe: oneDNN {onednn.onednn_speedup():.2f}x the speed of F.linear"
        if onednn.onednn_linear_works()
        else "no oneDNN op"
    )
    print(
        f"matrix products: {'oneDNN' if onednn.active() else 'F.linear (MKL)'} ({probe}); process: {tuning.describe()}"
    )
    PEAK_GFLOPS[:] = [matmul_peak_gflops()]
    print(
        f"fp32 matmul peak here: {PEAK_GFLOPS[0]:.0f} GFLOP/s ([{PEAK_SIZE}, {PEAK_SIZE}] products, best of 7); "
        "'peak %' = the grad sweep's matrix-product FLOPs (sweep_gflop) / its time / that peak"
    )
    print(f"{'model':<16}{'words':>6}" + "".join(f"{name:>12}" for name in PARTS))
    for checkpoint in checkpoints:
        for words in args.lengths:
            row = time_parts(checkpoint, words, args.repeats)
            cells = "".join(
                f"{row[name]:>11.1f}x"
                if name == "speedup"
                else f"{row[name]:>11.2f}%"
                if name == "peak %"
                else f"{row[name]:>12.1f}"
                for name in PARTS
            )
            print(f"{checkpoint.name:<16}{words:>6}{cells}", flush=True)
    print("\n10-rung ladder per model (ms):")
    for checkpoint in checkpoints:
        print(
            f"  {checkpoint.name:<16}{median_ms(lambda: run_ladder(checkpoint.model, checkpoint.tokenizer), args.repeats):>10.1f}"
        )
    names = " + ".join(checkpoint.name for checkpoint in checkpoints)
    print(f"\nAll models together ({names}):")
    rows = [
        (
            f"full default analysis, {words:>3} words",
            FULL_TARGETS_MS.get(words),
            lambda words=words: full_default(checkpoints, words),
        )
        for words in args.full_lengths
    ]
    rows.append(("10-rung ladder                  ", LADDER_TARGET_MS, lambda: ladder_all(checkpoints)))
    for label, target, function in rows:
        measured = median_ms(function, args.repeats)
        verdict = (
            "(no target)"
            if target is None
            else f"target <= {target:.0f} ms   " + ("ok" if measured <= target else "OVER")
        )
        print(f"  {label} {measured:>9.1f} ms   {verdict}", flush=True)
    if len(checkpoints) > 1:
        print("\nOne Python thread per model, 1 torch thread each:")
        threads_before = torch.get_num_threads()
        torch.set_num_threads(1)
        for words in args.full_lengths:
            measured = median_ms(lambda words=words: full_default_threads(checkpoints, words), args.repeats)
            target = FULL_TARGETS_MS.get(words)
            verdict = (
                "(no target)"
                if target is None
                else f"target <= {target:.0f} ms   " + ("ok" if measured <= target else "OVER")
            )
            print(f"  full default analysis, {words:>3} words {measured:>9.1f} ms   {verdict}", flush=True)
        torch.set_num_threads(threads_before)
    if onednn.onednn_linear_works() and not args.no_onednn and args.full_lengths:
        words = max(args.full_lengths)
        print(
            f"\nThe same analysis with every product forced through oneDNN, then F.linear (MKL), {words} words, all models:"
        )
        try:
            onednn.set_enabled(True)
            with_onednn = median_ms(lambda: full_default(checkpoints, words), args.repeats)
            onednn.set_enabled(False)
            with_mkl = median_ms(lambda: full_default(checkpoints, words), args.repeats)
        finally:
            onednn.set_enabled(None)
        chosen = "oneDNN" if onednn.active() else "F.linear"
        print(
            f"  oneDNN {with_onednn:.1f} ms, F.linear {with_mkl:.1f} ms: oneDNN runs at {with_mkl / with_onednn:.2f}x the speed of F.linear; "
            f"the probe chose {chosen}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
