"""Flags and helpers shared by the command-line tools (argparse, offline hub, corpus choice)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from typing import Any, Callable, Iterator

from data.corpus import load_hub, load_local
from model.core.checkpoint import Checkpoint, CheckpointError, load_checkpoint


def parser_flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Every flag and positional of ``parser`` except --help.

    argparse keeps them in a private list; this is the one place that reads it (the tests check
    that every flag of every command has help text and appears in --help).
    """
    return [action for action in parser._actions if not isinstance(action, argparse._HelpAction)]


def checkpoint_names(paths: list[str]) -> list[str]:
    """Folder names, or the full paths when two folders share a name."""
    names = [os.path.basename(os.path.normpath(path)) for path in paths]
    if len(set(names)) < len(names):
        return [os.path.normpath(path) for path in paths]
    return names


def report_per_checkpoint(
    paths: list[str],
    analyse: Callable[[Checkpoint], dict[str, Any]],
    summary: Callable[[str, dict[str, Any]], list[str]],
    as_json: bool,
) -> int:
    """The body every command that analyses several checkpoints in turn shares.

    Loads each checkpoint, runs ``analyse`` on it, then prints one JSON object {name: result} (``as_json``) or each
    one's ``summary`` lines. A checkpoint or an input the analysis refuses ends the command with one line that
    names its path (status 2). Names come from :func:`checkpoint_names`. Returns 0.
    """
    results: dict[str, Any] = {}
    for name, path in zip(checkpoint_names(paths), paths):
        try:
            results[name] = analyse(load_checkpoint(path))
        except (CheckpointError, ValueError) as error:
            fail(f"{path}: {error}")
    if as_json:
        print_json(results)
        return 0
    for name, result in results.items():
        print("\n".join(summary(name, result)))
    return 0


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
    group.add_argument(
        "--train",
        nargs="+",
        help="training text file(s) (UTF-8; empty lines separate paragraphs); several files are read in order, e.g. two corpora trained on together",
    )
    group.add_argument("--valid", help="validation text file, used to keep the best checkpoint")
    group.add_argument("--test", help="test text file, scored once at the end (optional)")
    group.add_argument(
        "--dataset", help="HuggingFace hub dataset name, e.g. wikitext (needs MEMORY_LAB_ONLINE=1 and a network)"
    )
    group.add_argument("--dataset-config", help="hub dataset configuration, e.g. wikitext-2-raw-v1")


def load_corpus_from_args(args: argparse.Namespace):
    given = [bool(args.corpus_dir), bool(args.train), bool(args.dataset)]
    if sum(given) != 1:
        raise ValueError(
            "Pass exactly one corpus: --corpus-dir FOLDER, --train PATH [--valid PATH --test PATH], or --dataset NAME."
        )
    if args.dataset:
        return load_hub(args.dataset, args.dataset_config)
    if args.corpus_dir:
        return load_local(folder=args.corpus_dir)
    return load_local(train=args.train, valid=args.valid, test=args.test)


def _bounded(
    convert: Callable[[str], Any], noun: str, rule: str, accept: Callable[[Any], bool]
) -> Callable[[str], Any]:
    """An argparse type: ``convert`` the text, then refuse values ``accept`` rejects.

    Args:
        convert: int or float.
        noun: what was expected, said when the text does not parse.
        rule: what was expected, said when the value is out of range.
        accept: True for allowed values (NaN fails every comparison, so it is refused).
    """

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {rule}, got {value if convert is int else text}")
        return value

    return parse


def bounded_int(low: int, high: int, why: str) -> Callable[[str], int]:
    """An argparse type for an integer in [low, high]; ``why`` says what the upper cap protects."""
    return _bounded(int, "an integer", f"an integer in [{low}, {high:,}] ({why})", lambda value: low <= value <= high)


_INFINITY = float("inf")
positive_int = _bounded(int, "a positive integer", "a positive integer", lambda value: value >= 1)
positive_float = _bounded(float, "a positive number", "a positive finite number", lambda value: 0 < value < _INFINITY)
non_negative_int = _bounded(int, "an integer >= 0", "an integer >= 0", lambda value: value >= 0)
non_negative_float = _bounded(float, "a number >= 0", "a finite number >= 0", lambda value: 0 <= value < _INFINITY)
unit_interval = _bounded(float, "a number in [0, 1)", "a number in [0, 1)", lambda value: 0 <= value < 1)


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, allow_nan=False)
    sys.stdout.write("\n")


FAIL_CHARACTERS = 600  # a message quoting pasted text is cut here, so an error never echoes a megabyte


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error (no traceback, at most FAIL_CHARACTERS characters) and exit."""
    text = " ".join(str(message).split())
    if len(text) > FAIL_CHARACTERS:
        text = text[: FAIL_CHARACTERS - 1] + "…"
    print(f"error: {text}", file=sys.stderr)
    raise SystemExit(code)


DEBUG_ENV = "MEMORY_LAB_DEBUG"


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn whatever escapes a CLI's work into one line on stderr and exit status 2, never a traceback.

    Covers what crafted files and extreme flags provoked: RecursionError (deeply nested JSON),
    MemoryError and allocation RuntimeErrors, TypeError, IndexError and the `tokenizers`
    library's PanicException (a BaseException). With MEMORY_LAB_DEBUG=1 the traceback is printed too.
    """
    try:
        yield
    except (SystemExit, KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as error:  # noqa: BLE001 - the point: nothing reaches the user as a traceback
        if isinstance(error, Exception) or type(error).__name__ == "PanicException":
            if os.environ.get(DEBUG_ENV) == "1":
                traceback.print_exc()
            fail(describe_error(error))
        raise


def describe_error(error: BaseException) -> str:
    """One line for an unexpected error: what happened, the value involved (cut), and the way out."""
    text = " ".join(str(error).split())
    if len(text) > 300:
        text = text[:299] + "…"
    if isinstance(error, MemoryError) or (isinstance(error, RuntimeError) and "allocate" in text):
        return (
            f"out of memory ({type(error).__name__}: {text or 'no details'}). Use a smaller input "
            "(fewer words, a smaller --max-words or --ig-steps) or a machine with more memory."
        )
    if isinstance(error, RecursionError):
        return f"an input is nested too deeply to read (RecursionError: {text}). Check the JSON files given."
    if type(error).__name__ == "PanicException":
        return f"the tokenizers library failed (a panic: {text}). The tokenizer.json may be damaged; copy the original back."
    return f"{type(error).__name__}: {text}. (MEMORY_LAB_DEBUG=1 prints the traceback.)"
