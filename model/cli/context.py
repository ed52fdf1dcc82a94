"""Effective context: how much does a model lose when the far past is taken away?

After Khandelwal et al. (2018), "Sharp Nearby, Fuzzy Far Away: How Neural Language
Models Use Context". For N target positions t, each with ``context_length`` tokens
of history, the model reads the history from a zero state and predicts token t.
Then everything farther than d tokens from the target is perturbed and the loss
measured again:

    history:  x[t-C] ... x[t-d-1] | x[t-d] ... x[t-1]  ->  predict x[t]
              <------ far -------> <------ near ----->
    drop:     the far part is removed (the model reads only the near part)
    shuffle:  the far part's tokens are put in a random order
    replace:  the far part is replaced by a span of the same length from a random
              place in the same text (real words, unrelated content)

The increase in mean loss (nats per token) over the intact history, as a function
of d, is the curve: large at small d (nearby words matter), near zero once d is
beyond what the model uses. A model that ignores context has a flat zero curve.

Efficiency: for each perturbation the contexts of all N positions and all distances
form one batch [N * len(distances), C], read in one forward pass (in chunks that
bound memory); only the last position goes through the decoder.
"""

from __future__ import annotations

import argparse
import os
import sys

from data.corpus import sha256_file
from model.cli.common import fail, one_line_errors, positive_int, print_json
from model.core.checkpoint import CheckpointError, load_checkpoint
from model.evaluation.effective_context import (
    DEFAULT_DISTANCES,
    PERTURBATIONS,
    effective_context,
    save_to_metrics,
    text_stream,
)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m model.context``."""

    parser = argparse.ArgumentParser(
        prog="python -m model.context", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoints", nargs="+", help="checkpoint folders to measure (each with its own tokenizer)")
    parser.add_argument(
        "--text",
        required=True,
        help="UTF-8 text file to sample target positions from (empty lines separate paragraphs)",
    )
    parser.add_argument("--positions", type=positive_int, default=200, help="target positions sampled (default 200)")
    parser.add_argument(
        "--distances",
        type=positive_int,
        nargs="+",
        default=list(DEFAULT_DISTANCES),
        help="distances d in tokens (default 1 2 5 10 20 50 100 200)",
    )
    parser.add_argument(
        "--context-length",
        type=positive_int,
        default=None,
        help="history tokens per target (default: largest distance + 50)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of positions, shuffles and replacements (default 0)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--save",
        action="store_true",
        help="also store each result in its checkpoint's metrics.json (key effective_context), where the app's Lab view reads it",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Measure each checkpoint's effective context on the text and print the curves."""

    args = build_parser().parse_args(argv)
    with one_line_errors():
        return _main(args, argv)


def _main(args: argparse.Namespace, argv: list[str] | None) -> int:
    if not os.path.isfile(args.text):
        fail(f"Text file not found: {args.text}. Pass an existing UTF-8 text file.")
    try:
        with open(args.text, encoding="utf-8") as stream:
            text = stream.read()
    except UnicodeDecodeError as error:
        fail(f"{args.text} is not UTF-8 text ({error.reason} at byte {error.start}); convert it first.")
    source = None
    if args.save:  # where the curves were measured, stored beside each one
        source = {
            "text": os.path.basename(args.text),
            "text_sha256": sha256_file(args.text),
            "seed": args.seed,
            "command": ["python", "-m", "model.context", *(sys.argv[1:] if argv is None else argv)],
        }
    reports = []
    for path in args.checkpoints:
        try:
            checkpoint = load_checkpoint(path)
            result = effective_context(
                checkpoint.model,
                text_stream(checkpoint.tokenizer, text),
                args.distances,
                args.positions,
                args.context_length,
                args.seed,
            )
        except (CheckpointError, ValueError) as error:
            fail(str(error))
        reports.append({"checkpoint": checkpoint.path, "name": checkpoint.name, **result.to_dict()})
        if source is not None:
            save_to_metrics(checkpoint.path, {**source, **result.to_dict()})
        if not args.json:
            print(
                f"== {checkpoint.name}: loss {result.baseline_loss:.3f} nats with {result.context_length} tokens of history, "
                f"{result.positions} positions; increase in loss (nats) when the context beyond d is perturbed"
            )
            print(f"  {'d':>5} " + " ".join(f"{name:>16}" for name in PERTURBATIONS))
            for k, distance in enumerate(result.distances):
                cells = " ".join(
                    f"{result.increase[p][k]:>8.3f} ± {result.standard_error[p][k]:<5.3f}" for p in PERTURBATIONS
                )
                print(f"  {distance:>5} {cells}")
    if args.json:
        print_json({"text": os.path.abspath(args.text), "checkpoints": reports})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
