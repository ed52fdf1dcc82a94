"""`python -m model.transplant`: where a model keeps the cue, by transplanting states between two runs.

Examples:
    python -m model.transplant checkpoints/novels-rnn checkpoints/novels-lstm \\
        --text "Mr. Robert is going on a vacation with his wife" --json
    python -m model.transplant checkpoints/novels-lstm --text "Mr. Robert is going on a vacation with his wife" \\
        --counterfactual "Mrs. Mary is going on a vacation with his wife" --target-word his --contrast her

The factual text is run once and the counterfactual once (default: the first title-and-name cue swapped,
"Mr. Robert" -> "Mrs. Mary"); the texts may differ only inside the marked spans (default: that cue).
At every word k the factual state after word k is replaced by the counterfactual's (all of it, h or c
only, or the top-n units) and the rest of the factual text is read; the share of the swap effect on
log P(target) - log P(contrast) that this carries is reported per word, with the memory units (the
units that carry it alone) and how many units it takes to carry 80%. --json prints one object keyed
by checkpoint name (schema: model.analysis.memory.transplant_report); without it, a short summary.
"""

from __future__ import annotations

import argparse
from typing import Any

from model.analysis.memory.transplant_report import transplant_report
from model.cli.common import positive_int, report_per_checkpoint, set_offline_defaults
from model.core.checkpoint import Checkpoint
from model.core.runtime import tune_process

set_offline_defaults()


def span(text: str) -> tuple[int, int]:
    """argparse type for START:END (0-based token indices, END excluded)."""
    start, colon, end = text.partition(":")
    try:
        if not colon:
            raise ValueError
        return int(start), int(end)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:END token indices such as 0:3, got {text!r}") from None


def counts(text: str) -> tuple[int, ...]:
    """argparse type for a comma-separated list of positive unit counts (1,4,16)."""
    try:
        values = tuple(int(value) for value in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected unit counts separated by commas such as 1,4,16, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"every unit count must be at least 1, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of `python -m model.transplant`."""
    parser = argparse.ArgumentParser(
        prog="python -m model.transplant", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "checkpoints", metavar="CHECKPOINT", nargs="+", help="one or more checkpoint folders written by model.train"
    )
    parser.add_argument(
        "--text",
        required=True,
        help='the factual text (quote it), e.g. "Mr. Robert is going on a vacation with his wife"',
    )
    parser.add_argument(
        "--counterfactual",
        default=None,
        help="the same text with the cue swapped, same number of tokens (default: each span's gender swapped, Mr. Robert -> Mrs. Mary)",
    )
    parser.add_argument(
        "--span",
        dest="spans",
        action="append",
        type=span,
        default=None,
        metavar="START:END",
        help="tokens where the texts may differ, 0-based, END excluded (repeatable; default: the first title and name, e.g. 0:3)",
    )
    parser.add_argument(
        "--target-word",
        default=None,
        help="the predicted word read after the cue (default: the first gendered pronoun after it)",
    )
    parser.add_argument(
        "--contrast",
        default=None,
        help="the word it is weighed against: f = log P(target) - log P(contrast) (default: the pronoun's swap)",
    )
    parser.add_argument(
        "--target-index",
        type=positive_int,
        default=None,
        help="0-based token index of the target word (default: its first occurrence after the cue; the text's length = the word after it)",
    )
    parser.add_argument(
        "--layer",
        type=int,
        default=None,
        help="transplant and rank only this layer's units (negative counts from the top; default: all layers)",
    )
    parser.add_argument(
        "--counts",
        type=counts,
        default=(1, 4, 16),
        help="the n of the top-n transplants, comma-separated (default 1,4,16)",
    )
    parser.add_argument("--top", type=positive_int, default=16, help="memory units listed (default 16)")
    parser.add_argument(
        "--max-words",
        type=positive_int,
        default=400,
        help="analyse at most this many tokens of each text (default 400)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object keyed by checkpoint name instead of a summary"
    )
    return parser


def _share(value: float | None) -> str:
    return "  -  " if value is None else f"{value:5.2f}"


def summary(name: str, report: dict[str, Any]) -> list[str]:
    """A few readable lines about one checkpoint's transplant report."""
    target = report["target"]
    lines = [
        f"== {name} ({report['model']['arch']}, {report['model']['hidden_size']} units)",
        f"{report['text']!r} vs {report['counterfactual_text']!r}",
        f"{target['description']} after word {target['position']} ({report['tokens'][target['position']]!r}): "
        f"factual {report['factual']:.3f}, counterfactual {report['counterfactual']:.3f}, effect {report['effect']:+.3f} nats",
    ]
    counts_shown = list(report["positions"][0]["share_top"])
    header = "word            distance   all     h     c  " + "  ".join(f"top{n:>3}" for n in counts_shown)
    lines.append(header)
    for position in report["positions"][report["cue"][0] : target["position"] + 2]:
        tops = "  ".join(f"{_share(position['share_top'][n])} " for n in counts_shown)
        distance = position["state_distance"]
        lines.append(
            f"{position['index']:>3} {position['word'][:10]:<10} {'  -  ' if distance is None else f'{distance:6.3f}'}  "
            f"{_share(position['share_all'])} {_share(position['share_hidden'])} {_share(position['share_cell'])}  {tops}"
        )
    units = ", ".join(
        f"{unit['part']}{unit['unit']}{'' if report['model']['num_layers'] == 1 else '@' + str(unit['layer'])} "
        f"{_share(unit['effect']).strip()}"
        for unit in report["units"][:6]
    )
    lines.append(f"memory units after word {report['word_after_cue']} (single-unit transplant share): {units}")
    needed = report["units_needed"]
    lines.append(
        f"units needed for {needed['level']:.0%} at word {needed['word']}: {needed['transplant']} (transplant ranking), "
        f"{needed['gradient']} (gradient ranking)"
    )
    overlap = report["overlap"]["transplant"]
    lines.append(
        "same units after the cue and before the target: "
        + ", ".join(f"top {n}: {share:.0%}" for n, share in overlap.items())
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: arguments without the program name (None: sys.argv[1:]).

    Returns:
        0 on success; errors exit with status 2.
    """
    args = build_parser().parse_args(argv)

    tune_process()

    def analyse(checkpoint: Checkpoint) -> dict[str, Any]:
        return transplant_report(
            checkpoint.model,
            checkpoint.tokenizer,
            args.text,
            counterfactual=args.counterfactual,
            spans=args.spans,
            target_word=args.target_word,
            contrast_word=args.contrast,
            target_index=args.target_index,
            layer=args.layer,
            counts=args.counts,
            top=args.top,
            max_words=args.max_words,
        )

    return report_per_checkpoint(args.checkpoints, analyse, summary, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
