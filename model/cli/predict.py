"""`python -m model.predict`: the next-word distribution after a text, or a sampled continuation.

Examples:
    python -m model.predict checkpoints/novels-lstm "Mr. Robert shook" --top-k 10
    python -m model.predict checkpoints/novels-lstm "It was a dark" --generate 30 --temperature 0.8 --seed 1

The model reads [<eos>] + the text's words, as in training (the <eos> marks the
start of a paragraph). Words the vocabulary does not know are read as <unk>
and listed.
"""

from __future__ import annotations

import argparse
from typing import Any

from data.echo import shown
from model.cli.common import bounded_int, fail, one_line_errors, positive_float, print_json, set_offline_defaults
from model.core.checkpoint import CheckpointError, load_checkpoint
from model.core.generation import MAX_GENERATE, MAX_TOP_K, append_continuation, generate, top_k_next_words

set_offline_defaults()


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of `python -m model.predict`."""
    parser = argparse.ArgumentParser(
        prog="python -m model.predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint folder written by model.train")
    parser.add_argument("text", help="the text to continue (quote it); may be empty for a paragraph's start")
    parser.add_argument(
        "--top-k",
        type=bounded_int(1, MAX_TOP_K, "a longer list is not readable"),
        default=10,
        help=f"how many next words to list (default 10, 1 to {MAX_TOP_K:,})",
    )
    parser.add_argument(
        "--generate",
        type=bounded_int(1, MAX_GENERATE, "one model step per token"),
        default=None,
        metavar="N",
        help=f"also sample a continuation of N tokens (1 to {MAX_GENERATE:,})",
    )
    parser.add_argument(
        "--temperature", type=positive_float, default=1.0, help="sampling temperature for --generate, > 0 (default 1.0)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed for --generate (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: arguments without the program name (None: sys.argv[1:]).

    Returns:
        0 on success; errors exit with status 2.
    """
    args = build_parser().parse_args(argv)
    with one_line_errors():
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    try:
        checkpoint = load_checkpoint(args.checkpoint)
        unknown = checkpoint.tokenizer.encode(args.text).unknown_words
        top = top_k_next_words(checkpoint.model, checkpoint.tokenizer, args.text, args.top_k)
        continuation = None
        if args.generate:
            continuation = generate(
                checkpoint.model, checkpoint.tokenizer, args.text, args.generate, args.temperature, args.seed
            )
    except (CheckpointError, ValueError) as error:
        fail(str(error))
    if args.json:
        result: dict[str, Any] = {
            "checkpoint": checkpoint.path,
            "text": args.text,
            "unknown_words": unknown,
            "top_k": [{"word": word, "probability": probability} for word, probability in top],
        }
        if continuation is not None:
            result["generated"] = {
                "tokens": args.generate,
                "temperature": args.temperature,
                "seed": args.seed,
                "continuation": continuation,
            }
        print_json(result)
        return 0
    if unknown:
        print(f"unknown words (read as <unk>): {', '.join(unknown)}")
    print(f"next word after {shown(args.text)} ({checkpoint.name}):")
    for rank, (word, probability) in enumerate(top, start=1):
        print(f"  {rank:>3}. {word:<20} {probability:.4f}")
    if continuation is not None:
        print(f"\ngenerated ({args.generate} tokens, temperature {args.temperature}, seed {args.seed}):")
        print(append_continuation(args.text, continuation))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
