"""Training throughput of the shipped architectures against a plain reference loop.

    python -m bench.train_throughput --corpus-dir ../shared/corpora/novels [--minutes 4]

Prints, on this machine's CPU:
1. the measured fp32 matmul peak (GFLOP/s);
2. training tokens/s of rnn, lstm and gru at the shipped size, and the fraction of that peak;
3. the plain reference loop (nn.LSTM + full softmax, batch 20, BPTT 35, SGD, as in pytorch/examples'
   word_language_model) at the same embedding/hidden size, and our LSTM's speed-up over it;
4. both trained for the same wall time (--minutes each, one after the other), then scored on the valid split:
   ours must reach the lower perplexity.

FLOPs per trained token (multiply-add = 2 FLOPs; backward ~ 2x forward, so training = 3x forward):
    recurrent  = 2 * G * H * (E + H)        G = 1 (rnn), 3 (gru), 4 (lstm)
    full head  = 2 * H * V
    adaptive   = 2 * H * (c0 + k)                        head: c0 frequent words + k cluster logits
               + sum_i p_i * (2 * H * d_i + 2 * d_i * n_i)  tail i: share p_i of tokens, width d_i = H / div^(i+1), n_i words
    train      = 3 * (recurrent + head)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from data.batching import batchify, windows  # noqa: E402
from data.corpus import load_local  # noqa: E402
from data.tokenizer import WordTokenizer  # noqa: E402
from model.core.config import CELLS, ModelConfig  # noqa: E402
from model.core.language_model import LanguageModel, detach_state  # noqa: E402
from model.evaluation.scoring import perplexity, stream_loss  # noqa: E402
from model.training.loop import encode_splits  # noqa: E402


def matmul_peak_gflops(size: int = 2048, repeats: int = 20) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def flops_per_token(config: ModelConfig, unigram: torch.Tensor) -> float:
    """Training FLOPs per token (see the module docstring); unigram [V] gives the tail shares."""
    hidden, embedding = config.hidden_size, config.embedding_size
    recurrent = 2 * CELLS[config.arch].gate_blocks * hidden * (embedding + hidden) * config.num_layers
    if config.decoder == "full":
        head = 2 * hidden * config.vocab_size
    else:
        edges = [0, *config.adaptive_cutoffs, config.vocab_size]
        head = 2 * hidden * (edges[1] + len(edges) - 2)
        for index in range(1, len(edges) - 1):
            width = int(hidden // (config.adaptive_div_value**index))
            share = float(unigram[edges[index] : edges[index + 1]].sum())
            head += share * (2 * hidden * width + 2 * width * (edges[index + 1] - edges[index]))
    return 3 * (recurrent + head)


def time_steps(step, batches, steps: int, warmup: int = 3) -> float:
    """Tokens/s of ``step`` over ``steps`` windows after ``warmup``."""
    iterator = iter(batches)
    for _ in range(warmup):
        step(*next(iterator))
    tokens, start = 0, time.perf_counter()
    for _ in range(steps):
        inputs, targets = next(iterator)
        step(inputs, targets)
        tokens += targets.numel()
    return tokens / (time.perf_counter() - start)


class ReferenceLSTM(nn.Module):
    """The plain baseline: embedding -> nn.LSTM -> full softmax (pytorch/examples style)."""

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.lstm = nn.LSTM(embedding_size, hidden_size, batch_first=True)
        self.decoder = nn.Linear(hidden_size, vocab_size)
        self.dropout = nn.Dropout(dropout)

    def features(self, ids, state=None):
        outputs, state = self.lstm(self.dropout(self.embedding(ids)), state)  # [B, T, H]
        return self.dropout(outputs), state

    def loss(self, features, targets):
        return nn.functional.cross_entropy(self.decoder(features).flatten(0, 1), targets.flatten())


def make_trainer(model, optimizer, clip: float, batch_size: int, bptt: int, stream: torch.Tensor):
    """A step function and an endless iterator of (inputs, targets) windows."""
    rows = batchify(stream, batch_size)  # [B, S]
    holder = {"state": None}

    def batches():
        while True:
            for _, inputs, targets in windows(rows, bptt):
                yield inputs, targets
            holder["state"] = None

    def step(inputs, targets):
        features, state = model.features(inputs, holder["state"])
        loss = model.loss(features, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        holder["state"] = detach_state(state)
        return loss.item()

    return step, batches()


def train_for(step, batches, seconds: float) -> int:
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step(*next(batches))
        steps += 1
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus-dir", default="../shared/corpora/novels", help="folder with train.txt and valid.txt")
    parser.add_argument(
        "--tokenizer",
        default="checkpoints/novels-lstm/tokenizer.json",
        help="tokenizer.json to use (built from train if missing)",
    )
    parser.add_argument("--embedding-size", type=int, default=256, help="shipped embedding size")
    parser.add_argument("--hidden-size", type=int, default=512, help="shipped hidden size")
    parser.add_argument("--batch-size", type=int, default=64, help="our batch size (the reference uses 20)")
    parser.add_argument("--bptt", type=int, default=70, help="our BPTT length (the reference uses 35)")
    parser.add_argument("--steps", type=int, default=25, help="timed steps per throughput measurement")
    parser.add_argument("--minutes", type=float, default=4.0, help="equal wall time for the quality race (0 skips it)")
    args = parser.parse_args()

    torch.manual_seed(0)
    corpus = load_local(folder=args.corpus_dir)
    corpus.splits.pop("test", None)
    tokenizer = (
        WordTokenizer.load(args.tokenizer)
        if os.path.isfile(args.tokenizer)
        else WordTokenizer.train(corpus.splits["train"])
    )
    streams = encode_splits(corpus, tokenizer)
    unigram = torch.bincount(streams["train"], minlength=tokenizer.vocab_size).double()
    unigram /= unigram.sum()
    peak = matmul_peak_gflops()
    print(
        f"machine: {torch.get_num_threads()} threads, fp32 matmul peak {peak:.0f} GFLOP/s (2048x2048, torch {torch.__version__})"
    )
    print(f"corpus: {corpus.name}, vocabulary {tokenizer.vocab_size}, train {streams['train'].numel():,} tokens")
    print()
    print(f"{'model':<34} {'tokens/s':>9} {'GFLOP/s':>8} {'of peak':>8}")
    rates = {}
    for arch in ("rnn", "lstm", "gru"):
        config = ModelConfig(
            arch=arch,
            vocab_size=tokenizer.vocab_size,
            embedding_size=args.embedding_size,
            hidden_size=args.hidden_size,
            dropout=0.3,
        )
        model = LanguageModel(config).train()
        step, batches = make_trainer(
            model, torch.optim.Adam(model.parameters(), 2e-3), 0.5, args.batch_size, args.bptt, streams["train"]
        )
        rate = time_steps(step, batches, args.steps)
        rates[arch] = rate
        gflops = rate * flops_per_token(config, unigram) / 1e9
        print(
            f"{arch + f' (ours, adaptive, B{args.batch_size} T{args.bptt})':<34} {rate:>9.0f} {gflops:>8.1f} {gflops / peak:>7.0%}"
        )
    reference_config = ModelConfig(
        arch="lstm",
        vocab_size=tokenizer.vocab_size,
        embedding_size=args.embedding_size,
        hidden_size=args.hidden_size,
        decoder="full",
    )
    reference = ReferenceLSTM(tokenizer.vocab_size, args.embedding_size, args.hidden_size).train()
    reference_step, reference_batches = make_trainer(
        reference, torch.optim.SGD(reference.parameters(), lr=20.0), 0.25, 20, 35, streams["train"]
    )
    reference_rate = time_steps(reference_step, reference_batches, max(5, args.steps // 2))
    gflops = reference_rate * flops_per_token(reference_config, unigram) / 1e9
    print(f"{'reference lstm (full softmax, B20 T35)':<34} {reference_rate:>9.0f} {gflops:>8.1f} {gflops / peak:>7.0%}")
    print(f"\nspeed-up of our lstm over the reference loop: {rates['lstm'] / reference_rate:.2f}x (target >= 3x)")

    if args.minutes > 0:
        print(f"\nquality race: each trains {args.minutes:g} min from scratch, then scores novels valid")
        torch.manual_seed(0)
        ours = LanguageModel(
            ModelConfig(
                arch="lstm",
                vocab_size=tokenizer.vocab_size,
                embedding_size=args.embedding_size,
                hidden_size=args.hidden_size,
                dropout=0.3,
            )
        ).train()
        optimizer = torch.optim.Adam(ours.parameters(), 2e-3)
        step, batches = make_trainer(ours, optimizer, 0.5, args.batch_size, args.bptt, streams["train"])
        ours_steps = train_for(step, batches, args.minutes * 60)
        torch.manual_seed(0)
        reference = ReferenceLSTM(tokenizer.vocab_size, args.embedding_size, args.hidden_size).train()
        reference_step, reference_batches = make_trainer(
            reference, torch.optim.SGD(reference.parameters(), lr=20.0), 0.25, 20, 35, streams["train"]
        )
        reference_steps = train_for(reference_step, reference_batches, args.minutes * 60)
        ours.eval()
        reference.eval()
        ours_ppl = perplexity(stream_loss(ours, streams["valid"]))
        reference_ppl = perplexity(stream_loss(reference, streams["valid"]))
        print(
            f"  ours      : {ours_steps} steps, {ours_steps * args.batch_size * args.bptt:,} tokens, valid ppl {ours_ppl:.1f}"
        )
        print(
            f"  reference : {reference_steps} steps, {reference_steps * 20 * 35:,} tokens, valid ppl {reference_ppl:.1f}"
        )
        verdict = "ours lower" if ours_ppl < reference_ppl else "REFERENCE LOWER"
        print(f"  perplexity ratio reference/ours: {reference_ppl / ours_ppl:.2f} ({verdict})")
        if not math.isfinite(ours_ppl):
            raise SystemExit("our model diverged")


if __name__ == "__main__":
    main()
