"""`python -m model.evaluate`: perplexity on a text, minimal pairs, the pronoun suite.

Examples:
    python -m model.evaluate checkpoints/novels-lstm --text ../shared/corpora/novels/test.txt
    python -m model.evaluate checkpoints/novels-lstm --pairs my_pairs.tsv --json
    python -m model.evaluate checkpoints/novels-rnn checkpoints/novels-lstm --suite pronoun

Several checkpoints may be given; each is scored in turn. With --json the
output is {"checkpoints": [{"checkpoint", "name", "text"?, "pairs"?, "suite:NAME"?...}, ...]},
one "suite:NAME" per suite scored (--suite all gives all of them).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from model.cli.common import fail, one_line_errors, positive_int, print_json, set_offline_defaults
from model.core.checkpoint import CheckpointError, load_checkpoint
from model.evaluation.evaluate import evaluate_text
from model.evaluation.pairs import read_pairs_tsv, score_pairs
from model.evaluation.suites import run_suite

set_offline_defaults()


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of `python -m model.evaluate`."""
    parser = argparse.ArgumentParser(
        prog="python -m model.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "checkpoints",
        nargs="+",
        metavar="CHECKPOINT",
        help="checkpoint folder(s) written by model.train; several are compared",
    )
    parser.add_argument(
        "--text", help="UTF-8 text file (empty lines separate paragraphs): report perplexity, scored like training"
    )
    parser.add_argument(
        "--pairs", help="TSV of minimal pairs with the header group, prefix, good, bad (extra columns allowed)"
    )
    parser.add_argument(
        "--suite",
        choices=["pronoun", "agreement", "relative_clause", "all"],
        help="build a suite in memory and score it: pronoun (his/her by distance), agreement (subject-verb with attractors), relative_clause, or all",
    )
    parser.add_argument("--suite-seed", type=int, default=0, help="seed for the suite's templates (default 0)")
    parser.add_argument(
        "--templates-per-bucket",
        type=positive_int,
        default=None,
        help="templates per distance bucket in the suite (default: the suite's own)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=16,
        help="rows for the perplexity stream (default 16, as in training)",
    )
    parser.add_argument(
        "--bptt",
        type=positive_int,
        default=128,
        help="window length for the perplexity stream (default 128, as in training)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    return parser


def _format(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_report(report: dict[str, Any]) -> None:
    """Print human-readable tables for one checkpoint's report.

    Args:
        report: {"checkpoint", "name", "text"?, "pairs"?, "suite:NAME"?...} as built by :func:`main`.
    """
    print(f"== {report['name']} ({report['checkpoint']})")
    if "text" in report:
        text = report["text"]
        print(
            f"text {text['file']}: {text['tokens']} tokens, {text['unknown_rate']:.1%} <unk>, loss {text['loss']:.4f} nats, perplexity {text['perplexity']:.2f}"
        )
    for kind in ("pairs", *[key for key in report if key.startswith("suite")]):
        if kind not in report:
            continue
        result = report[kind]
        swap = result.get("swap", {})
        print(f"{kind}: overall accuracy {_format(result['overall']['accuracy'])} on {result['overall']['n']} pairs")
        header = f"  {'group':<24} {'n':>5} {'accuracy':>9} {'mean margin':>12}"
        if swap:
            header += f" {'templates':>10} {'swap right sign':>16} {'swap effect':>12}"
        print(header)
        for group, stats in result["groups"].items():
            line = f"  {group:<24} {stats['n']:>5} {_format(stats['accuracy']):>9} {_format(stats['mean_margin']):>12}"
            if swap:
                effect = swap.get(group)
                line += (
                    f" {effect['n_templates']:>10} {_format(effect['right_sign_rate']):>16} {_format(effect['mean_effect']):>12}"
                    if effect
                    else f" {'-':>10} {'-':>16} {'-':>12}"
                )
            print(line)
        if result["unknown_words"]:
            print(f"  unknown candidate words (their rows were not scored): {', '.join(result['unknown_words'])}")
        if result.get("unknown_template_words"):
            print(f"  suite words read as <unk>: {', '.join(result['unknown_template_words'])}")
    print()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: arguments without the program name (None: sys.argv[1:]).

    Returns:
        0 on success; errors exit with status 2 through cli_common.fail.
    """
    args = build_parser().parse_args(argv)
    with one_line_errors():
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    if not (args.text or args.pairs or args.suite):
        fail("Nothing to evaluate: pass --text FILE, --pairs FILE.tsv or --suite pronoun (or several of them).")

    if args.text and not os.path.isfile(args.text):
        fail(f"Text file not found: {args.text}. Pass an existing UTF-8 text file.")
    try:
        pair_rows = read_pairs_tsv(args.pairs) if args.pairs else None
    except (FileNotFoundError, ValueError) as error:
        fail(str(error))
    reports = []
    for path in args.checkpoints:
        try:
            checkpoint = load_checkpoint(path)
            report: dict[str, Any] = {"checkpoint": checkpoint.path, "name": checkpoint.name}
            if args.text:
                report["text"] = evaluate_text(
                    checkpoint.model, checkpoint.tokenizer, args.text, args.batch_size, args.bptt
                )
            if pair_rows is not None:
                report["pairs"] = dict(
                    score_pairs(checkpoint.model, checkpoint.tokenizer, pair_rows), file=os.path.abspath(args.pairs)
                )
            if args.suite:
                results = run_suite(
                    checkpoint.model, checkpoint.tokenizer, args.suite, args.suite_seed, args.templates_per_bucket
                )
                report.update({f"suite:{name}": result for name, result in results.items()})
        except (CheckpointError, FileNotFoundError, ValueError) as error:
            fail(str(error))
        if args.json:
            reports.append(report)
        else:
            print_report(report)
    if args.json:
        print_json({"checkpoints": reports})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
