"""`python -m model.weight_storage`: rewrite a checkpoint's weights in another storage (see model/core/weight_storage.py)."""

from __future__ import annotations

import argparse
import os
import sys

import torch

from model.cli.common import fail
from model.core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def build_parser() -> argparse.ArgumentParser:
    """The command-line flags."""
    parser = argparse.ArgumentParser(
        prog="python -m model.weight_storage",
        description="Re-save a checkpoint folder with smaller weights (the config, tokenizer and metrics are kept).",
    )
    parser.add_argument("source", help="the checkpoint folder to read")
    parser.add_argument("destination", help="the folder to write; refused if it exists")
    parser.add_argument(
        "--storage",
        choices=["int8", "float16", "float32"],
        default="int8",
        help="int8: vocabulary-sized matrices as int8 rows with float16 scales, the rest float16 (default)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Re-save SRC as DST with the chosen storage; prints the sizes."""
    args = build_parser().parse_args(argv)
    if os.path.exists(args.destination):
        fail(f"{args.destination} already exists; a re-save never replaces a folder. Name a new folder.")
    try:
        checkpoint = load_checkpoint(args.source)
    except CheckpointError as error:
        fail(str(error))
    dtype = {"int8": torch.int8, "float16": torch.float16, "float32": torch.float32}[args.storage]
    metrics = dict(checkpoint.metrics, resaved_from=os.path.basename(os.path.abspath(args.source)))
    save_checkpoint(args.destination, checkpoint.model, checkpoint.tokenizer, metrics, storage_dtype=dtype)
    before = os.path.getsize(os.path.join(args.source, "model.safetensors"))
    after = os.path.getsize(os.path.join(args.destination, "model.safetensors"))
    print(
        f"{args.destination}: model.safetensors {after / 2**20:.1f} MiB ({args.storage}), was {before / 2**20:.1f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
