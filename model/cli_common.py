"""Flags and helpers shared by the command-line tools (argparse, offline hub, corpus choice)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def set_offline_defaults() -> None:
    """No network here but package registries: make `datasets` fail fast on hub names.

    Users who are online opt back in with MEMORY_LAB_ONLINE=1. This runs before
    `datasets` is imported, which is when the flags are read.
    """
    if os.environ.get("MEMORY_LAB_ONLINE", "") != "1":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def add_corpus_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("corpus (local files, a folder, or a hub dataset)")
    group.add_argument("--corpus-dir", help="folder holding train.txt and optionally valid.txt and test.txt")
    group.add_argument("--train", help="training text file (UTF-8; empty lines separate paragraphs)")
    group.add_argument("--valid", help="validation text file, used to keep the best checkpoint")
    group.add_argument("--test", help="test text file, scored once at the end (optional)")
    group.add_argument("--dataset", help="HuggingFace hub dataset name, e.g. wikitext (needs MEMORY_LAB_ONLINE=1 and a network)")
    group.add_argument("--dataset-config", help="hub dataset configuration, e.g. wikitext-2-raw-v1")


def load_corpus_from_args(args: argparse.Namespace):
    from data.corpus import load_hub, load_local

    given = [bool(args.corpus_dir), bool(args.train), bool(args.dataset)]
    if sum(given) != 1:
        raise ValueError("Pass exactly one corpus: --corpus-dir FOLDER, --train PATH [--valid PATH --test PATH], or --dataset NAME.")
    if args.dataset:
        return load_hub(args.dataset, args.dataset_config)
    if args.corpus_dir:
        return load_local(folder=args.corpus_dir)
    return load_local(train=args.train, valid=args.valid, test=args.test)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (e.g. --warmup-steps)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0 (e.g. --weight-decay)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value}")
    return value


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, allow_nan=False)
    sys.stdout.write("\n")


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error (no traceback) and exit."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)
