"""Tokenizing a corpus 20x the novels: time and peak memory of the streaming path (data/streaming.py).

    python -m bench.corpus_scale [--source ../shared/corpora/novels/train.txt] [--scale 20] [--num-proc 2]
                                 [--in-memory]

Builds, in a temporary folder, a 1x copy of ``--source`` and a ``--scale``x corpus
made by repeating it, then tokenizes each in a fresh subprocess (fresh `datasets`
and token caches) the way ``python -m model.train --stream on`` does:
``datasets.map`` (batched, ``--num-proc`` processes) into Arrow, then a flat int32
token file read back through np.memmap. Printed per size: tokens, seconds,
tokens/s and the peak resident memory of that subprocess and the map workers it
waited for (``ru_maxrss`` from os.wait4). The streaming path passes when the
scaled corpus peaks within 1.5x of the 1x figure.

``--in-memory`` also measures the ordinary path (data.corpus.load_local +
model.training.encode_splits: every paragraph and id in memory) for contrast.
The tokenizer is built once from the 1x text and shared by every measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

DEFAULT_SOURCE = os.path.join(ROOT, "..", "shared", "corpora", "novels", "train.txt")
RSS_LIMIT_RATIO = 1.5


def build_corpus(source: str, path: str, scale: int) -> int:
    """Write ``scale`` copies of ``source`` to ``path`` (a blank line between copies); return its size in bytes."""
    with open(source, "rb") as handle:
        text = handle.read().rstrip(b"\n") + b"\n\n"
    with open(path, "wb") as handle:
        for _ in range(scale):
            handle.write(text)
    return os.path.getsize(path)


def measure_in_child(mode: str, text_path: str, tokenizer_path: str, work: str, num_proc: int) -> dict:
    """Run this file's ``--child`` in a fresh interpreter; add its peak RSS (MiB) to what it prints."""
    env = dict(
        os.environ, MEMORY_LAB_DATASETS_CACHE=os.path.join(work, "datasets"), OMP_NUM_THREADS="1", PYTHONPATH=ROOT
    )
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        mode,
        "--text",
        text_path,
        "--tokenizer",
        tokenizer_path,
        "--work",
        work,
        "--num-proc",
        str(num_proc),
    ]
    with open(os.path.join(work, "child.out"), "w") as out, open(os.path.join(work, "child.err"), "w") as err:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own peak, map workers included
    if os.waitstatus_to_exitcode(status) != 0:
        with open(os.path.join(work, "child.err")) as err:
            raise RuntimeError(f"{mode} measurement of {text_path} failed:\n{err.read()[-3000:]}")
    with open(os.path.join(work, "child.out")) as out:
        result = json.loads(out.read().strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # ru_maxrss is KiB on Linux
    return result


def child(mode: str, text_path: str, tokenizer_path: str, work: str, num_proc: int) -> None:
    """Inside the subprocess: tokenize ``text_path`` one way and print {"tokens", "seconds"} as JSON."""
    from data.tokenizer import WordTokenizer

    tokenizer = WordTokenizer.load(tokenizer_path)
    start = time.perf_counter()
    if mode == "stream":
        from data.streaming import stream_corpus

        _, _, streams = stream_corpus(
            tokenizer, train=text_path, cache_dir=os.path.join(work, "tokens"), num_proc=num_proc
        )
        tokens = int(streams["train"].numel())
        # Read a window at each end through the memory map (reading every page would make them
        # all resident and measure the page cache, not the tokenizer).
        checksum = int(streams["train"][:4096].long().sum() + streams["train"][-4096:].long().sum())
    else:
        from data.corpus import load_local
        from model.training.loop import encode_splits

        stream = encode_splits(load_local(train=text_path), tokenizer)["train"]
        tokens, checksum = int(stream.numel()), int(stream[:4096].sum() + stream[-4096:].sum())
    print(json.dumps({"tokens": tokens, "seconds": time.perf_counter() - start, "checksum": checksum}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.corpus_scale", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--source", default=DEFAULT_SOURCE, help="the 1x text (default ../shared/corpora/novels/train.txt)"
    )
    parser.add_argument("--scale", type=int, default=20, help="how many copies make the large corpus (default 20)")
    parser.add_argument("--num-proc", type=int, default=2, help="datasets.map processes (default 2)")
    parser.add_argument("--in-memory", action="store_true", help="also measure the in-memory path for contrast")
    parser.add_argument("--child", choices=["stream", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--text", help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.text, args.tokenizer, args.work, args.num_proc)
        return 0
    if args.scale < 2:
        parser.error(f"--scale must be at least 2; got {args.scale}")
    if not os.path.isfile(args.source):
        parser.error(f"--source {args.source} not found; pass a UTF-8 text file")

    from data.corpus import load_local
    from data.tokenizer import WordTokenizer

    root = tempfile.mkdtemp(prefix="memory-lab-corpus-scale-")
    try:
        tokenizer_path = os.path.join(root, "tokenizer.json")
        paths = {}
        for scale in (1, args.scale):
            folder = os.path.join(root, f"x{scale}")
            os.makedirs(folder)
            paths[scale] = os.path.join(folder, "train.txt")
            size = build_corpus(args.source, paths[scale], scale)
            print(f"{scale:>3}x corpus: {size / 2**20:8.1f} MiB")
        WordTokenizer.train(load_local(train=paths[1]).splits["train"], min_frequency=3).save(tokenizer_path)
        modes = ["stream"] + (["memory"] if args.in_memory else [])
        results: dict[tuple[str, int], dict] = {}
        for mode in modes:
            for scale in (1, args.scale):
                work = tempfile.mkdtemp(dir=root, prefix=f"{mode}-x{scale}-")
                result = measure_in_child(mode, paths[scale], tokenizer_path, work, args.num_proc)
                results[mode, scale] = result
                print(
                    f"{mode:>6} {scale:>3}x: {result['tokens']:>11,} tokens  {result['seconds']:7.1f} s  "
                    f"{result['tokens'] / max(result['seconds'], 1e-9):>10,.0f} tokens/s  peak RSS {result['peak_rss_mib']:7.0f} MiB"
                )
                shutil.rmtree(work)
        small, large = results["stream", 1], results["stream", args.scale]
        if large["tokens"] != args.scale * small["tokens"]:
            print(f"warning: {args.scale}x gave {large['tokens']} tokens, not {args.scale} x {small['tokens']}")
        ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
        verdict = "PASS" if ratio <= RSS_LIMIT_RATIO else "FAIL"
        print(f"streaming peak RSS {args.scale}x / 1x = {ratio:.2f} (limit {RSS_LIMIT_RATIO}): {verdict}")
        if args.in_memory:
            print(
                f"in-memory peak RSS {args.scale}x / 1x = {results['memory', args.scale]['peak_rss_mib'] / results['memory', 1]['peak_rss_mib']:.2f}"
            )
        return 0 if verdict == "PASS" else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
