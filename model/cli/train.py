"""`python -m model.train`: train an RNN, LSTM or GRU language model on a text corpus.

Example:
    python -m model.train --corpus-dir ../shared/corpora/novels --arch lstm \
        --time-limit 30 --out checkpoints/my-lstm

Ctrl-C or SIGTERM saves a resumable state; continue with --resume OUT.

Several processes (data parallel, DistributedDataParallel; --batch-size stays the global batch):
    torchrun --nproc_per_node=2 -m model.train --corpus-dir ... --out checkpoints/my-lstm

A corpus larger than memory: --stream on (automatic above 256 MB of training text)
tokenizes into a token file on disk and reads batches from it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from data.corpus import local_paths
from data.streaming import should_stream, stream_corpus
from data.tokenizer import WordTokenizer
from model.cli.common import (
    add_corpus_flags,
    fail,
    load_corpus_from_args,
    non_negative_float,
    non_negative_int,
    one_line_errors,
    positive_float,
    positive_int,
    set_offline_defaults,
    unit_interval,
)
from model.core.checkpoint import CHECKPOINT_FILES
from model.core.config import ModelConfig, default_cutoffs
from model.core.resume_state import find_resume_state
from model.training.distributed import rank_info
from model.training.loop import TrainConfig, train

set_offline_defaults()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_corpus_flags(parser)
    parser.add_argument(
        "--out",
        required=True,
        help="checkpoint folder to write (config.json, model.safetensors, tokenizer.json, metrics.json, resume/)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run saved in --out/resume with its saved settings",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the checkpoint or resumable state already in --out (without it such an --out is refused)",
    )
    vocab = parser.add_argument_group("vocabulary")
    vocab.add_argument(
        "--tokenizer", help="reuse this tokenizer.json (so several models share one vocabulary) instead of building one"
    )
    vocab.add_argument(
        "--min-frequency", type=positive_int, default=3, help="words seen fewer times in train become <unk> (default 3)"
    )
    vocab.add_argument(
        "--max-vocab",
        type=positive_int,
        default=None,
        help="keep at most this many vocabulary entries, specials included",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--arch",
        choices=["rnn", "lstm", "gru"],
        default="lstm",
        help="recurrent cell: tanh rnn, lstm or gru (default lstm)",
    )
    model.add_argument("--embedding-size", type=positive_int, default=256, help="word embedding width (default 256)")
    model.add_argument("--hidden-size", type=positive_int, default=256, help="recurrent layer width (default 256)")
    model.add_argument("--num-layers", type=positive_int, default=1, help="stacked recurrent layers (default 1)")
    model.add_argument(
        "--dropout",
        type=unit_interval,
        default=0.2,
        help="dropout on embeddings, between layers and before the decoder (default 0.2)",
    )
    model.add_argument(
        "--tie-weights",
        action="store_true",
        help="share the embedding with the output layer (needs --decoder full and equal sizes)",
    )
    model.add_argument(
        "--decoder",
        choices=["adaptive", "full"],
        default="adaptive",
        help="adaptive softmax (fast on CPU) or full softmax (default adaptive)",
    )
    model.add_argument(
        "--cutoffs",
        type=positive_int,
        nargs="+",
        default=None,
        help="adaptive softmax cluster cut-offs by word id (default 2000 8000)",
    )
    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--batch-size", type=positive_int, default=64, help="rows trained in parallel (default 64)")
    optim.add_argument(
        "--bptt", type=positive_int, default=35, help="truncated backpropagation length in tokens (default 35)"
    )
    optim.add_argument("--optimizer", choices=["adam", "adamw", "sgd"], default="adam", help="optimizer (default adam)")
    optim.add_argument("--lr", type=positive_float, default=2e-3, help="peak learning rate (default 2e-3)")
    optim.add_argument("--weight-decay", type=non_negative_float, default=0.0, help="weight decay (default 0)")
    optim.add_argument(
        "--schedule",
        choices=["constant", "cosine", "linear"],
        default="cosine",
        help="learning-rate decay over the run (default cosine)",
    )
    optim.add_argument("--warmup-steps", type=non_negative_int, default=0, help="linear warm-up steps (default 0)")
    optim.add_argument(
        "--clip", type=positive_float, default=0.5, help="clip the global gradient norm to this value (default 0.5)"
    )
    optim.add_argument(
        "--no-clip", action="store_true", help="turn gradient clipping off (for the exploding-gradient demo)"
    )
    run = parser.add_argument_group("run")
    run.add_argument("--epochs", type=positive_int, default=1, help="passes over the training split (default 1)")
    run.add_argument(
        "--time-limit",
        type=positive_float,
        default=None,
        help="stop after this many minutes; the schedule then follows time",
    )
    run.add_argument("--seed", type=int, default=1234, help="random seed (default 1234)")
    run.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N] (default auto)")
    run.add_argument("--bf16", action="store_true", help="bfloat16 autocast for the forward pass")
    run.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: all cores)")
    run.add_argument(
        "--save-every", type=positive_float, default=5.0, help="minutes between resumable snapshots (default 5)"
    )
    run.add_argument("--log-every", type=positive_int, default=50, help="steps between curve points (default 50)")
    run.add_argument(
        "--init-from",
        help="start from this checkpoint's weights (same arch, sizes and tokenizer), e.g. to fine-tune with a longer --bptt",
    )
    run.add_argument("--fp16-storage", action="store_true", help="store weights as float16 (half the file size)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    large = parser.add_argument_group("large corpora (local files only)")
    large.add_argument(
        "--stream",
        choices=["auto", "on", "off"],
        default="auto",
        help="tokenize into a token file on disk and read batches from it instead of holding the corpus in memory; "
        "auto streams above 256 MB of training text (default auto)",
    )
    large.add_argument(
        "--num-proc", type=positive_int, default=1, help="processes tokenizing in parallel when streaming (default 1)"
    )
    large.add_argument(
        "--token-cache",
        default=None,
        help="folder for token files when streaming (default $MEMORY_LAB_TOKEN_CACHE or ~/.cache/memory-lab/tokens)",
    )
    return parser


def existing_output(out: str) -> str | None:
    """What in ``out`` a fresh run would replace ("a checkpoint (...)", "a resumable state"), or None.

    An empty folder (or one holding only files of no run) is free to use.
    """

    out = os.path.abspath(out)
    for folder in (out, out + ".previous"):
        present = [name for name in CHECKPOINT_FILES if os.path.isfile(os.path.join(folder, name))]
        if present:
            summary = ""
            try:
                with open(os.path.join(folder, "metrics.json"), encoding="utf-8") as stream:
                    metrics = json.load(stream)
                facts = [
                    f"valid ppl {metrics['valid_ppl']:.2f}"
                    if isinstance(metrics.get("valid_ppl"), (int, float))
                    else "",
                    f"{metrics['steps']} steps" if isinstance(metrics.get("steps"), int) else "",
                ]
                summary = ", ".join(fact for fact in facts if fact)
            except (OSError, ValueError, RecursionError, AttributeError, TypeError):
                pass
            return f"a checkpoint ({summary})" if summary else "a checkpoint"
    try:
        find_resume_state(out)
        return "the resumable state of an interrupted run"
    except FileNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with one_line_errors():
        return _main(args, argv)


def _main(args: argparse.Namespace, argv: list[str] | None) -> int:
    if args.resume and args.overwrite:
        fail("--resume continues the run in --out and --overwrite replaces it: pass one of them.")
    try:
        tokenizer = None
        if args.resume:
            # The run's own vocabulary, saved beside its resumable state.
            tokenizer = WordTokenizer.load(os.path.join(find_resume_state(args.out), "tokenizer.json"))
            if args.tokenizer:
                given = WordTokenizer.load(args.tokenizer)
                if given.fingerprint() != tokenizer.fingerprint():
                    raise ValueError(
                        f"--resume {args.out} --tokenizer {args.tokenizer}: that vocabulary ({given.vocab_size} entries, sha256 "
                        f"{given.fingerprint()[:12]}…) is not the one the interrupted run used ({tokenizer.vocab_size} entries, "
                        f"sha256 {tokenizer.fingerprint()[:12]}…). Leave out --tokenizer to resume with the run's own."
                    )
        elif args.tokenizer:
            tokenizer = WordTokenizer.load(args.tokenizer)
        corpus, tokenizer, streams = _load_corpus(args, tokenizer)
        occupied = None if args.resume or args.overwrite else existing_output(args.out)
        if occupied:
            raise ValueError(
                f"--out {args.out} already holds {occupied}; a new run would replace it. Pass --overwrite to replace it, "
                f"--resume to continue an interrupted run there, or choose another --out."
            )
        model_config = ModelConfig(
            arch=args.arch,
            vocab_size=tokenizer.vocab_size,
            embedding_size=args.embedding_size,
            hidden_size=args.hidden_size,
            num_layers=args.num_layers,
            dropout=args.dropout,
            tie_weights=args.tie_weights,
            decoder=args.decoder,
            adaptive_cutoffs=args.cutoffs or default_cutoffs(tokenizer.vocab_size),
        )
        config = TrainConfig(
            out=args.out,
            model=model_config,
            batch_size=args.batch_size,
            bptt=args.bptt,
            optimizer=args.optimizer,
            lr=args.lr,
            weight_decay=args.weight_decay,
            schedule=args.schedule,
            warmup_steps=args.warmup_steps,
            clip=None if args.no_clip else args.clip,
            epochs=args.epochs,
            time_limit_minutes=args.time_limit,
            seed=args.seed,
            device=args.device,
            bf16=args.bf16,
            threads=args.threads,
            save_every_minutes=args.save_every,
            log_every=args.log_every,
            storage_dtype="float16" if args.fp16_storage else "float32",
            init_from=args.init_from,
            progress=not args.no_progress,
            command=["python", "-m", "model.train", *(argv if argv is not None else sys.argv[1:])],
        )
        result = train(config, corpus, tokenizer, resume=args.out if args.resume else None, streams=streams)
    except (ValueError, FileNotFoundError, ConnectionError) as error:
        fail(str(error))
    if not rank_info().is_main:
        return 0  # in a torchrun job rank 0 reports for all
    metrics = result.metrics
    summary = ", ".join(
        f"{split} ppl {metrics[f'{split}_ppl']:.2f}"
        for split in ("train", "valid", "test")
        if f"{split}_ppl" in metrics
    )
    print(
        f"{result.status}: {result.steps} steps; best checkpoint in {result.out}" + (f" ({summary})" if summary else "")
    )
    if result.status == "diverged":
        print(
            "The loss or gradient norm became infinite or NaN; training stopped before that step. "
            "Lower --lr or keep gradient clipping on (--clip)."
        )
        return 1
    if result.status.startswith("interrupted") or result.status == "stopped":
        print(
            f"Resumable state saved. Continue with: python -m model.train --resume --out {result.out} <same corpus flags>"
        )
        return 130
    return 0


def _load_corpus(args: argparse.Namespace, tokenizer):
    """The corpus, its tokenizer (built from the training split when None) and, when streaming,
    the memory-mapped token streams (else None: train() encodes the paragraphs in memory).

    Returns:
        (Corpus, WordTokenizer, dict split -> 1-D ids or None).
    """

    one_local_corpus = [bool(args.corpus_dir), bool(args.train), bool(args.dataset)] in (
        [True, False, False],
        [False, True, False],
    )
    if args.stream == "on" and not one_local_corpus:
        raise ValueError(
            "--stream on reads local files: pass exactly one of --corpus-dir FOLDER or --train PATH (not --dataset)."
        )
    if args.stream != "off" and one_local_corpus:
        _, paths = local_paths(args.train, args.valid, args.test, folder=args.corpus_dir)
        if should_stream(paths, args.stream):
            return stream_corpus(
                tokenizer,
                args.train,
                args.valid,
                args.test,
                folder=args.corpus_dir,
                cache_dir=args.token_cache,
                num_proc=args.num_proc,
                min_frequency=args.min_frequency,
                max_size=args.max_vocab,
            )
    corpus = load_corpus_from_args(args)
    if tokenizer is None:
        tokenizer = WordTokenizer.train(
            corpus.splits["train"], min_frequency=args.min_frequency, max_size=args.max_vocab
        )
    return corpus, tokenizer, None


if __name__ == "__main__":
    raise SystemExit(main())
