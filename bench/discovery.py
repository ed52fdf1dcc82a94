"""Cost of many checkpoint folders: model discovery and one app rerun with 30 folders, as a ratio to 3.

    python -m bench.discovery [--folders 3 30] [--vocab 20000] [--reruns 7] [--repeats 7]

Builds the folders in a temporary directory from tiny models (random weights, 16 units, a
generated vocabulary of --vocab words, so that each tokenizer.json is as large as the shipped
one's); nothing under ../shared or checkpoints/ is read. For each folder count it measures, median
of --repeats (discovery) or --reruns (app):

1. discovery, cold: ui.services.model_store.discover with every memo empty (each folder's small files read
   and checked: config.json, metrics.json, tokenizer.json, the safetensors header). The folders are
   copies of three models that share one vocabulary, as the shipped trio and one Train-tab run do,
   so the tokenizer is parsed once (memoized by content); the cost of a folder whose vocabulary was
   not seen before is printed on its own line;
2. discovery, warm: the same call again, as on every rerun (a stat of each folder's files);
3. an app rerun (streamlit AppTest, Next word tab, the same three models picked in both cases)
   after typing a new sentence, and after re-submitting the same one (every analysis cached);

and prints each as a ratio of the largest count to the smallest. Target: an app rerun with 30
folders costs at most 1.5x one with 3. Before the fix every rerun loaded every folder's weights,
and from 17 folders on the 16-entry model cache thrashed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402

from data.tokenizer import WordTokenizer  # noqa: E402
from model.cli.common import positive_int  # noqa: E402
from model.core.checkpoint import save_checkpoint  # noqa: E402
from model.core.config import ModelConfig  # noqa: E402
from model.core.language_model import LanguageModel  # noqa: E402

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(REPOSITORY, "app.py")
ARCHS = ("rnn", "lstm", "gru")
PICKED = ["m00-rnn", "m01-lstm", "m02-gru"]  # present in every folder count, so both apps analyse the same models
SEED_WORDS = (
    "Mr. Robert is going on a vacation with his wife to Hawaii next month . said so her friend came tea".split()
)
SENTENCES = [f"Mr. Robert said so his friend came to tea {index} times ." for index in range(64)]


def build_models(folder: str, vocab: int) -> dict[str, str]:
    """One tiny checkpoint per architecture in ``folder`` sharing one generated vocabulary: arch -> path."""
    rng = random.Random(0)
    words = SEED_WORDS + [f"w{index}" for index in range(vocab)]
    text = " ".join(words) + " " + " ".join(rng.choice(words) for _ in range(2 * vocab))
    tokenizer = WordTokenizer.train([text], min_frequency=1, max_size=vocab)
    paths = {}
    for index, arch in enumerate(ARCHS):
        torch.manual_seed(index)
        config = ModelConfig(
            arch=arch, vocab_size=tokenizer.vocab_size, embedding_size=16, hidden_size=16, dropout=0.0, decoder="full"
        )
        paths[arch] = os.path.join(folder, f"base-{arch}")
        save_checkpoint(
            paths[arch], LanguageModel(config).eval(), tokenizer, {"corpus": "generated", "note": "bench.discovery"}
        )
    return paths


def fill(root: str, count: int, bases: dict[str, str]) -> None:
    """``count`` checkpoint folders m00-rnn, m01-lstm, m02-gru, m03-rnn, ... copied from ``bases``."""
    os.makedirs(root, exist_ok=True)
    for index in range(count):
        arch = ARCHS[index % len(ARCHS)]
        shutil.copytree(bases[arch], os.path.join(root, f"m{index:02d}-{arch}"))


def median_seconds(call, repeats: int, before=None) -> float:
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def forget_everything() -> None:
    """Empty every cache and memo discovery uses: a cold start."""
    import streamlit as st

    from data.tokenizer import forget_checked_files
    from ui.services import model_store

    st.cache_resource.clear()
    model_store.clear_inspections()
    forget_checked_files()


def measure_discovery(roots: dict[int, str], repeats: int) -> dict[int, tuple[float, float]]:
    """count -> (cold, warm) seconds of ui.services.model_store.discover."""
    from ui.services import model_store

    results = {}
    for count, root in roots.items():
        cold = median_seconds(lambda: model_store.discover(root), repeats, before=forget_everything)
        model_store.discover(root)
        warm = median_seconds(lambda: model_store.discover(root), max(repeats, 20))
        results[count] = (cold, warm)
    return results


def measure_reruns(roots: dict[int, str], reruns: int) -> dict[int, dict[str, float]]:
    """count -> {"first", "new sentence", "same sentence"} seconds of AppTest runs (interleaved across counts)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    forget_everything()
    st.cache_data.clear()
    apps, first = {}, {}
    for count, root in roots.items():
        os.environ["MEMORY_LAB_CHECKPOINTS"] = root
        app = AppTest.from_file(APP, default_timeout=300)
        app.session_state["models"] = list(PICKED)
        started = time.perf_counter()
        app.run()
        first[count] = time.perf_counter() - started
        if app.exception:
            raise RuntimeError(f"the app failed with {count} folders: {[element.value for element in app.exception]}")
        apps[count] = app
    new_times: dict[int, list[float]] = {count: [] for count in roots}
    same_times: dict[int, list[float]] = {count: [] for count in roots}
    for round_index in range(reruns):
        for count, app in apps.items():  # interleaved, so drift of the machine hits both counts alike
            os.environ["MEMORY_LAB_CHECKPOINTS"] = roots[count]
            started = time.perf_counter()
            app.text_input(key="text").set_value(SENTENCES[round_index]).run()
            new_times[count].append(time.perf_counter() - started)
            started = time.perf_counter()
            app.run()  # the same sentence again: every analysis comes from the cache
            same_times[count].append(time.perf_counter() - started)
            if app.exception:
                raise RuntimeError(
                    f"the app failed with {count} folders: {[element.value for element in app.exception]}"
                )
    return {
        count: {
            "first": first[count],
            "new sentence": statistics.median(new_times[count]),
            "same sentence": statistics.median(same_times[count]),
        }
        for count in roots
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.discovery", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--folders",
        type=positive_int,
        nargs=2,
        default=[3, 30],
        metavar=("FEW", "MANY"),
        help="the two folder counts compared (default 3 30)",
    )
    parser.add_argument(
        "--vocab",
        type=positive_int,
        default=20000,
        help="vocabulary size of the tiny models (default 20000, like the shipped one)",
    )
    parser.add_argument("--repeats", type=positive_int, default=7, help="discovery measurements per count (default 7)")
    parser.add_argument("--reruns", type=positive_int, default=7, help="app reruns per count (default 7)")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    few, many = sorted(args.folders)
    with tempfile.TemporaryDirectory(prefix="memory-lab-discovery-") as workspace:
        bases = build_models(os.path.join(workspace, "bases"), args.vocab)
        roots = {count: os.path.join(workspace, f"root-{count}") for count in (few, many)}
        for count, root in roots.items():
            fill(root, count, bases)
        size = sum(os.path.getsize(os.path.join(bases["lstm"], name)) for name in os.listdir(bases["lstm"]))
        print(
            f"folders: {few} and {many} tiny checkpoints (vocabulary {args.vocab:,}, {size / 2**20:.1f} MiB per folder), torch threads {args.threads}"
        )
        discovery = measure_discovery(roots, args.repeats)
        single = os.path.join(workspace, "root-single")
        fill(single, 1, bases)
        new_vocabulary = measure_discovery({1: single}, args.repeats)[1][0]
        reruns = measure_reruns(roots, args.reruns)
    rows = [
        ("discovery, cold (empty cache)", discovery[few][0], discovery[many][0], None),
        ("discovery, warm (every rerun)", discovery[few][1], discovery[many][1], None),
        ("app: first run (loads 3 models)", reruns[few]["first"], reruns[many]["first"], None),
        ("app rerun: new sentence", reruns[few]["new sentence"], reruns[many]["new sentence"], 1.5),
        ("app rerun: same sentence (cached)", reruns[few]["same sentence"], reruns[many]["same sentence"], 1.5),
    ]
    print(f"{'measurement (ms, median)':<36} {few:>9} {many:>9}  ratio  target  ok")
    passed = True
    for label, small, large, target in rows:
        ratio = large / small if small > 0 else float("inf")
        ok = "" if target is None else ("yes" if ratio <= target else "NO")
        passed = passed and ok != "NO"
        print(
            f"{label:<36} {small * 1000:>9.3f} {large * 1000:>9.3f}  {ratio:>5.2f}  {'' if target is None else f'<= {target}':>6}  {ok}"
        )
    per_folder = (discovery[many][0] - discovery[few][0]) / (many - few)
    print(
        f"cold discovery: {new_vocabulary * 1000:.1f} ms for a folder whose vocabulary was not seen before, about "
        f"{per_folder * 1000:.1f} ms for each further folder sharing it (once per folder and file change, then remembered); "
        f"warm: {(discovery[many][1] - discovery[few][1]) / (many - few) * 1e6:.0f} us per folder"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
