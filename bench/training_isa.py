"""Does training come out the same under AVX2 as under this machine's best instruction set?

    python -m bench.training_isa [--words 300000] [--archs rnn lstm gru] [--threads 2]

Kernels differ between instruction sets (AVX-512 vs AVX2 matmuls sum in another order), so two
runs of the same seed drift apart bit by bit. What matters for the shipped models is whether the
*outcome* drifts: this bench trains one short, identical run per architecture twice, one after the
other, each in a child `python -m model.train` whose environment is set before Python starts:
    default  ATEN_CPU_CAPABILITY and ONEDNN_MAX_CPU_ISA unset (the machine's best)
    avx2     ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
Both use the shipped 19M-word recipe (stage 1: the shipped tokenizer, 256/512 units, adaptive
softmax 2000/10000, batch 64, BPTT 70, Adam 2e-3 cosine, clip 0.5, dropout 0.1, seed 1234) on the
first --words words of the training files, and the first tenth as many of the valid and test files.

Printed per architecture: the capability torch reports in each child, test perplexity under both,
the difference in test loss (nats), the largest difference between the two training-loss curves (metrics.json keeps 5 decimals),
the largest relative weight difference, and AVX2 tokens/s as a ratio of the default's. Absolute
times do not carry between machines; the ratio and the loss difference do.

Exits with status 1 when any architecture's test losses differ by more than --tolerance nats.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.lab import ISA_ENVIRONMENTS, isa_environment  # noqa: E402
from model.cli.common import positive_float, positive_int, print_json  # noqa: E402

CORPORA = os.path.join(os.path.dirname(ROOT), "shared", "corpora")
DEFAULT_TRAIN = [os.path.join(CORPORA, "novels", "train.txt"), os.path.join(CORPORA, "library", "train.txt")]
DEFAULT_VALID = os.path.join(CORPORA, "novels", "valid.txt")
DEFAULT_TEST = os.path.join(CORPORA, "novels", "test.txt")
DEFAULT_TOKENIZER = os.path.join(ROOT, "checkpoints", "novels19m-lstm", "tokenizer.json")
# The stage-1 recipe of the shipped novels19m-* models (their metrics.json "pretraining" command).
RECIPE = [
    "--cutoffs", "2000", "10000", "--num-layers", "1", "--dropout", "0.1", "--batch-size", "64",
    "--bptt", "70", "--lr", "2e-3", "--schedule", "cosine", "--clip", "0.5", "--epochs", "1", "--seed", "1234",
]  # fmt: skip


def write_head(sources: list[str], words: int, path: str) -> int:
    """The first ``words`` words of ``sources`` (an equal share from each, whole lines) into ``path``; words written."""
    share = -(-words // len(sources))
    written = 0
    with open(path, "w", encoding="utf-8") as out:
        for source in sources:
            taken = 0
            with open(source, encoding="utf-8") as text:
                for line in text:
                    if taken >= share:
                        break
                    out.write(line)
                    taken += len(line.split())
            written += taken
    return written


def child_capability(isa: str) -> str:
    """The CPU capability torch reports when started under instruction set ``isa``."""
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    done = subprocess.run([sys.executable, "-c", code], env=isa_environment(isa), capture_output=True, text=True)
    return done.stdout.strip() or f"unknown ({done.stderr.strip()[-200:]})"


def train_child(isa: str, arch: str, files: dict[str, str], out: str, options: argparse.Namespace) -> dict[str, Any]:
    """One `python -m model.train` under ``isa``; the metrics.json it wrote."""
    command = [sys.executable, "-m", "model.train", "--train", files["train"], "--valid", files["valid"]]
    command += ["--test", files["test"], "--tokenizer", options.tokenizer, "--arch", arch, *RECIPE]
    command += ["--embedding-size", str(options.embedding_size), "--hidden-size", str(options.hidden_size)]
    command += ["--threads", str(options.threads), "--log-every", "5", "--no-progress", "--out", out]
    done = subprocess.run(command, cwd=ROOT, env=isa_environment(isa), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` under {isa} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as handle:
        return json.load(handle)


def largest_weight_difference(first: str, second: str) -> float:
    """max over tensors of max|a - b| / max|a|: how far the two runs' weights drifted apart, relative."""
    from safetensors.torch import load_file  # late: only this step reads weights

    a, b = load_file(os.path.join(first, "model.safetensors")), load_file(os.path.join(second, "model.safetensors"))
    worst = 0.0
    for name, tensor in a.items():
        scale = float(tensor.abs().max()) or 1.0
        worst = max(worst, float((tensor.float() - b[name].float()).abs().max()) / scale)
    return worst


def compare(default: dict[str, Any], avx2: dict[str, Any]) -> dict[str, float]:
    """The outcome and speed of two metrics.json of the same run: loss differences and the tokens/s ratio."""
    curves = [{point["step"]: point["train_loss"] for point in run["curve"]} for run in (default, avx2)]
    shared = sorted(set(curves[0]) & set(curves[1]))
    if not shared:
        raise ValueError("the two runs logged no common step; compare needs the same run under both sets.")
    return {
        "default_test_ppl": default["test_ppl"],
        "avx2_test_ppl": avx2["test_ppl"],
        "test_loss_difference": avx2["test_loss"] - default["test_loss"],
        "largest_curve_difference": max(abs(curves[0][step] - curves[1][step]) for step in shared),
        "curve_points": len(shared),
        "steps": default["steps"],
        "tokens_per_second_ratio": avx2["tokens_per_second"] / default["tokens_per_second"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.training_isa", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--train", nargs="+", default=DEFAULT_TRAIN, help="training text files (default: the shipped stage 1's)"
    )
    parser.add_argument("--valid", default=DEFAULT_VALID, help="validation text file (default novels valid)")
    parser.add_argument("--test", default=DEFAULT_TEST, help="test text file (default novels test)")
    parser.add_argument("--tokenizer", default=DEFAULT_TOKENIZER, help="tokenizer.json (default the shipped models')")
    parser.add_argument("--words", type=positive_int, default=300_000, help="training words per run (default 300000)")
    parser.add_argument(
        "--archs",
        nargs="+",
        choices=["rnn", "lstm", "gru"],
        default=["rnn", "lstm", "gru"],
        help="architectures (default all)",
    )
    parser.add_argument(
        "--embedding-size", type=positive_int, default=256, help="embedding width (default 256, shipped)"
    )
    parser.add_argument("--hidden-size", type=positive_int, default=512, help="recurrent width (default 512, shipped)")
    parser.add_argument("--threads", type=positive_int, default=2, help="torch threads of every run (default 2)")
    parser.add_argument(
        "--tolerance",
        type=positive_float,
        default=0.02,
        help="largest test-loss difference, nats, that counts as the same outcome (default 0.02)",
    )
    parser.add_argument("--json", action="store_true", help="also print everything measured as JSON")
    args = parser.parse_args(argv)
    capabilities = {isa: child_capability(isa) for isa in ISA_ENVIRONMENTS}
    report: dict[str, Any] = {"capabilities": capabilities, "archs": {}}
    with tempfile.TemporaryDirectory(prefix="training-isa-") as work:
        files = {name: os.path.join(work, f"{name}.txt") for name in ("train", "valid", "test")}
        words = write_head(args.train, args.words, files["train"])
        write_head([args.valid], max(1, args.words // 10), files["valid"])
        write_head([args.test], max(1, args.words // 10), files["test"])
        print(
            f"{words} training words, {args.threads} thread(s); torch capability: "
            + ", ".join(f"{isa} -> {cap}" for isa, cap in capabilities.items()),
            flush=True,
        )
        print(
            "arch   test ppl default   test ppl avx2   d test loss   max d curve   max rel d weight   avx2 tok/s / default"
        )
        ok = True
        for arch in args.archs:
            outs = {isa: os.path.join(work, f"{arch}-{isa}") for isa in ISA_ENVIRONMENTS}
            metrics = {isa: train_child(isa, arch, files, outs[isa], args) for isa in ISA_ENVIRONMENTS}
            row = compare(metrics["default"], metrics["avx2"])
            row["largest_relative_weight_difference"] = largest_weight_difference(outs["default"], outs["avx2"])
            report["archs"][arch] = row
            ok = ok and abs(row["test_loss_difference"]) <= args.tolerance
            print(
                f"{arch:<6} {row['default_test_ppl']:>16.2f}   {row['avx2_test_ppl']:>13.2f}   "
                f"{row['test_loss_difference']:>+11.1e}   {row['largest_curve_difference']:>11.1e}   "
                f"{row['largest_relative_weight_difference']:>16.2e}   {row['tokens_per_second_ratio']:>19.2f}x",
                flush=True,
            )
        print(
            f"same outcome (|d test loss| <= {args.tolerance:g} nats) for "
            f"{sum(abs(r['test_loss_difference']) <= args.tolerance for r in report['archs'].values())} of {len(args.archs)} architectures"
        )
    if args.json:
        print_json(report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
