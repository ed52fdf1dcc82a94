"""The long-range lab's claim on both instruction sets, and the speed-up of training the seeds batched.

    python -m bench.lab [--seeds 16] [--speed-seeds 8] [--speed-steps 20] [--json]

1. The claim check, once per instruction set. Each run is `python -m model.lab --seeds N --json`
   in a child process whose environment is set before Python starts:
       default  ATEN_CPU_CAPABILITY and ONEDNN_MAX_CPU_ISA unset (the machine's best)
       avx2     ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
   The child reports the capability torch actually used (torch.backends.cpu.get_cpu_capability()).
   Claim: at every lag >= 30 the LSTM reaches accuracy >= 0.9 and the RNN stays <= 0.65, each
   for at least 15 of 16 seeds (model.lab.claim_check).
2. The speed-up, measured side by side in this process with the default lab's sizes and data:
   S seeds trained as one batched run (model.lab.batched_training.train_batched) against the same
   S seeds trained one after the other as ordinary LanguageModels (nn.RNN / nn.LSTM,
   clip_grad_norm_, torch.optim.SGD: model.lab.batched_training.train_alone), same steps, same
   threads. Reported as ratios; absolute times do not carry between machines.
3. The tanh the batched cells use: torch.tanh against 2 sigmoid(2x) - 1 (model/lab/batched_cells.py
   forms tanh that way) on one step's block of the default LSTM, [8 seeds, 4*32, 32 rows], once per
   instruction set in a child process; kept only while it is faster under both.

Exits with status 1 when the claim fails under either instruction set or the speed-up at S
seeds is below --target-speedup.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from model.cli.common import positive_float, positive_int, print_json  # noqa: E402
from model.lab.record import MEASURED_PATH, claim_from_runs, save_measured  # noqa: E402
from model.lab.run import LabConfig, claim_check  # noqa: E402

ISA_ENVIRONMENTS = {
    "default": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}
_ISA_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")


def isa_environment(name: str) -> dict[str, str]:
    """This process's environment with the instruction-set variables of ``name`` (and no others of them)."""
    env = {key: value for key, value in os.environ.items() if key not in _ISA_VARIABLES}
    env.update(ISA_ENVIRONMENTS[name])
    return env


def run_lab_child(isa: str, seeds: int, threads: int | None) -> dict[str, Any]:
    """`python -m model.lab --seeds N --json` under instruction set ``isa``; its parsed summary."""
    command = [sys.executable, "-m", "model.lab", "--seeds", str(seeds), "--json", "--quiet"]
    if threads is not None:
        command += ["--threads", str(threads)]
    done = subprocess.run(command, cwd=ROOT, env=isa_environment(isa), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(command)}` under {isa} failed with status {done.returncode}:\n{done.stderr[-2000:]}"
        )
    return json.loads(done.stdout)


def claim_lines(isa: str, summary: dict[str, Any]) -> list[str]:
    """The claim check of one child run as text: per lag >= 30 each side's count, then the verdict."""
    models = summary["models"]
    claim = claim_check({name: models[name]["accuracy_by_seed"] for name in ("rnn", "lstm")})
    seeds = claim.seeds
    lines = [
        f"{isa}: torch capability {summary['isa']}, {summary['torch_threads']} threads, {seeds} seeds; wall {summary['wall_seconds']:.1f} s "
        f"(expected {summary['plan']['expected_seconds']:.1f} s from one timed step), "
        + ", ".join(f"{name} {1000 * models[name]['seconds_per_step']:.0f} ms per step" for name in models)
    ]
    rows = {name: {share["lag"]: share for share in models[name]["lags"]} for name in ("rnn", "lstm")}
    lines.append("  lag   LSTM >= 0.9   RNN <= 0.65   LSTM mean [min, max]   RNN mean [min, max]")
    for lag in summary["config"]["eval_lags"]:
        lstm, rnn = rows["lstm"][lag], rows["rnn"][lag]
        rnn_below = sum(curve[str(lag)] <= 0.65 for curve in models["rnn"]["accuracy_by_seed"].values())
        lines.append(
            f"  {lag:>3}   {lstm['learned']:>2} of {seeds:<6} {rnn_below:>2} of {seeds:<6}  "
            f"{lstm['mean_accuracy']:.2f} [{lstm['min_accuracy']:.2f}, {lstm['max_accuracy']:.2f}]     "
            f"{rnn['mean_accuracy']:.2f} [{rnn['min_accuracy']:.2f}, {rnn['max_accuracy']:.2f}]"
        )
    lines.append(
        f"  claim at lags {list(claim.lags)}: LSTM >= 0.9 for {claim.lstm_learned} of {seeds} seeds, RNN <= 0.65 for "
        f"{claim.rnn_below} of {seeds} (worst lag; {claim.required} needed): {'holds' if claim.holds else 'FAILS'}"
    )
    return lines


def measure_speedup(seeds: int, steps: int, threads: int, rounds: int = 3) -> dict[str, Any]:
    """Seconds of S seeds trained batched vs one after the other, per architecture, default lab sizes and data
    (median of ``rounds`` alternating rounds)."""
    import torch

    from data.long_lag import build_corpus
    from data.tokenizer import WordTokenizer
    from model.lab.batched_model import BatchedRecurrentLM
    from model.lab.batched_training import stack_rows, train_alone, train_batched

    torch.set_num_threads(threads)
    config = LabConfig(seeds=seeds)
    corpus = build_corpus(config.corpus_spec())
    tokenizer = WordTokenizer.train(corpus.splits["train"], min_frequency=1)
    paragraphs = list(tokenizer.iter_ids(corpus.splits["train"]))
    seed_list = config.seed_list()
    rows = stack_rows(
        paragraphs, seed_list, config.batch_size, steps + 1, config.bptt
    )  # one extra window: the warm-up step
    results = {}
    for arch in config.archs:

        def fresh() -> BatchedRecurrentLM:
            return BatchedRecurrentLM(
                arch,
                seed_list,
                tokenizer.vocab_size,
                config.embedding_size,
                config.hidden_size(arch, tokenizer.vocab_size),
                embedding_init=config.embedding_init,
                forget_bias=config.forget_bias,
            )

        train_batched(
            fresh(), rows, 1, config.bptt, config.lr, config.clip
        )  # warm-up: first-call costs stay out of both timings
        train_alone(fresh().to_language_model(0), rows[0], 1, config.bptt, config.lr, config.clip)  # warm-up
        batched_rounds, separate_rounds = [], []
        for _ in range(rounds):  # alternating, so that a slow spell of the machine hits both sides
            start = time.perf_counter()
            train_batched(fresh(), rows, steps, config.bptt, config.lr, config.clip)
            batched_rounds.append(time.perf_counter() - start)
            models = fresh()
            alone_models = [models.to_language_model(index) for index in range(seeds)]
            start = time.perf_counter()
            for index, model in enumerate(alone_models):
                train_alone(model, rows[index], steps, config.bptt, config.lr, config.clip)
            separate_rounds.append(time.perf_counter() - start)
        batched, separate = statistics.median(batched_rounds), statistics.median(separate_rounds)
        results[arch] = {
            "batched_seconds": round(batched, 6),
            "separate_seconds": round(separate, 6),
            "speedup": round(separate / batched, 2),
        }
    both_batched = sum(r["batched_seconds"] for r in results.values())
    both_separate = sum(r["separate_seconds"] for r in results.values())
    return {
        "seeds": seeds,
        "steps": steps,
        "threads": threads,
        "rounds": rounds,
        "archs": results,
        "speedup": round(both_separate / both_batched, 2),
    }


def measure_tanh_forms(threads: int, repeats: int = 2000) -> dict[str, Any]:
    """Microseconds per call of torch.tanh and of 2 sigmoid(2x) - 1 on a [8, 128, 32] float block (best of 5 rounds)."""
    import torch

    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    block = torch.randn(8, 128, 32, generator=generator)  # one step's gates of 8 seeds: [S, 4H, B]
    out = torch.empty_like(block)

    def library() -> None:
        torch.tanh(block, out=out)

    def sigmoid_form() -> None:
        torch.mul(block, 2.0, out=out).sigmoid_().mul_(2.0).sub_(1.0)

    sigmoid_form()
    if not torch.allclose(out, torch.tanh(block), atol=1e-6):
        raise RuntimeError("2 sigmoid(2x) - 1 differs from tanh(x) by more than 1e-6")
    timings = {}
    for name, function in (("tanh_us", library), ("sigmoid_form_us", sigmoid_form)):
        rounds = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(repeats):
                function()
            rounds.append((time.perf_counter() - start) / repeats * 1e6)
        timings[name] = round(min(rounds), 2)
    timings["capability"] = torch.backends.cpu.get_cpu_capability()
    timings["ratio"] = round(timings["tanh_us"] / timings["sigmoid_form_us"], 2)
    return timings


def run_tanh_child(isa: str, threads: int) -> dict[str, Any]:
    """:func:`measure_tanh_forms` in a child process under instruction set ``isa``."""
    command = [sys.executable, "-m", "bench.lab", "--tanh-forms", "--speed-threads", str(threads)]
    done = subprocess.run(command, cwd=ROOT, env=isa_environment(isa), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(command)}` under {isa} failed with status {done.returncode}:\n{done.stderr[-2000:]}"
        )
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    """Run the claim check under both instruction sets and the batched-vs-separate timing."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seeds", type=positive_int, default=16, help="seeds per architecture for the claim check (default 16)"
    )
    parser.add_argument(
        "--isas",
        nargs="+",
        choices=list(ISA_ENVIRONMENTS),
        default=list(ISA_ENVIRONMENTS),
        help="instruction sets to check (default: both)",
    )
    parser.add_argument(
        "--threads", type=positive_int, default=None, help="torch threads of the lab runs (default: the lab's own)"
    )
    parser.add_argument(
        "--speed-seeds", type=positive_int, default=8, help="seeds of the batched-vs-separate timing (default 8)"
    )
    parser.add_argument(
        "--speed-steps", type=positive_int, default=20, help="training steps of each timed run (default 20)"
    )
    parser.add_argument(
        "--speed-rounds",
        type=positive_int,
        default=3,
        help="alternating rounds of the timing, batched then separate; the medians are compared (default 3)",
    )
    parser.add_argument(
        "--speed-threads", type=positive_int, default=1, help="torch threads of the timing, both sides (default 1)"
    )
    parser.add_argument(
        "--target-speedup", type=positive_float, default=3.0, help="speed-up the batched run must reach (default 3)"
    )
    parser.add_argument("--skip-claim", action="store_true", help="only time batched against separate runs")
    parser.add_argument(
        "--tanh-forms",
        action="store_true",
        help="only time torch.tanh against 2*sigmoid(2x)-1 in this process and print JSON (the bench runs this once per instruction set)",
    )
    parser.add_argument("--json", action="store_true", help="also print everything measured as JSON")
    parser.add_argument(
        "--record",
        action="store_true",
        help="write the claim check (worst over the instruction sets) to model/lab/measured.json, which the app and README quote",
    )
    args = parser.parse_args(argv)
    if args.tanh_forms:
        print(json.dumps(measure_tanh_forms(args.speed_threads)))
        return 0
    report: dict[str, Any] = {"claim": {}, "speed": None, "tanh_forms": {}}
    ok = True
    if not args.skip_claim:
        for isa in args.isas:
            summary = run_lab_child(isa, args.seeds, args.threads)
            print("\n".join(claim_lines(isa, summary)), flush=True)
            claim = claim_check({name: summary["models"][name]["accuracy_by_seed"] for name in ("rnn", "lstm")})
            report["claim"][isa] = {
                "capability": summary["isa"],
                "claim": claim.to_dict(),
                "wall_seconds": summary["wall_seconds"],
                "plan": summary["plan"],
                "lags": {name: summary["models"][name]["lags"] for name in ("rnn", "lstm")},
            }
            ok = ok and claim.holds
        if len(args.isas) > 1:
            held = [isa for isa in args.isas if report["claim"][isa]["claim"]["holds"]]
            print(
                f"claim holds under {len(held)} of {len(args.isas)} instruction sets ({', '.join(held) if held else 'none'})\n"
            )
    if args.record and report["claim"]:
        runs = [
            {"capability": report["claim"][isa]["capability"], "claim": report["claim"][isa]["claim"]}
            for isa in args.isas
        ]
        command = "python -m bench.lab --seeds {} --isas {}{} --record".format(
            args.seeds, " ".join(args.isas), "" if args.threads is None else f" --threads {args.threads}"
        )
        save_measured(claim_from_runs(runs, first_seed=0, command=command))
        print(f"recorded the claim check in {MEASURED_PATH}\n")
    speed = measure_speedup(args.speed_seeds, args.speed_steps, args.speed_threads, args.speed_rounds)
    report["speed"] = speed
    print(
        f"speed-up of {speed['seeds']} seeds trained batched over {speed['seeds']} separate runs ({speed['steps']} steps each, "
        f"{speed['threads']} thread(s), medians of {speed['rounds']} alternating rounds in this process):"
    )
    for arch, numbers in speed["archs"].items():
        print(
            f"  {arch}: batched {numbers['batched_seconds']:.2f} s, separate {numbers['separate_seconds']:.2f} s -> {numbers['speedup']:.2f}x"
        )
    print(f"  both: {speed['speedup']:.2f}x (target >= {args.target_speedup:g}x)")
    ok = ok and speed["speedup"] >= args.target_speedup
    print(f"tanh in the batched cells ({args.speed_threads} thread(s), [8, 128, 32] float block, best of 5 rounds):")
    for isa in args.isas:
        forms = run_tanh_child(isa, args.speed_threads)
        report["tanh_forms"][isa] = forms
        print(
            f"  {isa} ({forms['capability']}): torch.tanh {forms['tanh_us']:.1f} us, 2*sigmoid(2x)-1 "
            f"{forms['sigmoid_form_us']:.1f} us -> the sigmoid form {forms['ratio']:.2f}x faster"
        )
        if forms["ratio"] <= 1.0:
            print(f"  under {isa} the sigmoid form is not faster: model/lab/batched_cells.py should call torch.tanh")
            ok = False
    if args.json:
        print_json(report)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
