"""The long-range dependency lab: how far back can an RNN and an LSTM remember a cue?

    python -m model.lab [--lags 1 3 5 10 20 40 60] [--gru] [--optimizer sgd|adam] [--json]

1. Generate a controlled corpus (data/long_lag.py): a cue ("Mr." / "Mrs.", "(" / "[" / "{")
   fixes a word ("his" / "her", ")" / "]" / "}") ``lag`` tokens later, with neutral filler between.
2. Train a tanh RNN and an LSTM of the same size on it, one after the other, through
   the ordinary tokenizer and training loop (model.training.train).
3. On held-out sequences of known lag, measure accuracy at the dependent word
   (model/lag_accuracy.py): right when the model ranks the right closing word first
   among the cue family's alternatives. Chance is 1 / (number of alternatives).

Every ``eval_every`` training steps the accuracy-vs-lag curve is measured again and
handed to ``on_progress(model_name, step, curve)``, so a view can draw the curves
as they form. The trained models are returned for further analysis (model/analysis).
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from data.corpus import Corpus
from data.long_lag import LagDistribution, LagSequence, LongLagSpec, build_corpus, check_lags_possible, evaluation_sequences
from data.tokenizer import WordTokenizer
from model.config import ARCHITECTURES, ModelConfig
from model.lag_accuracy import LagCurve, lag_accuracy
from model.language_model import LanguageModel
from model.training import TrainConfig, train

DEFAULT_LAGS = (1, 2, 3, 5, 8, 12, 16, 20, 30, 40, 50, 60)

ProgressCallback = Callable[[str, int, LagCurve], None]
LogCallback = Callable[[str, dict[str, Any]], None]


@dataclass
class LabConfig:
    """Settings of one lab run; the defaults train both models in well under 2 minutes on 2 CPU cores.

    Attributes:
        archs: the models to train, each "rnn", "lstm" or "gru"; all share every other setting.
        eval_lags: lags measured on held-out sequences.
        train_lags: lag distribution of the training paragraphs (log-uniform from 1: many
            short lags to learn the trick from, some long ones to need it; the title cue
            needs 3 tokens, so its paragraphs start at lag 3).
        filler_vocab_size, num_cue_types, num_sequences, seed: the corpus (see LongLagSpec).
        embedding_size, hidden_size: model size (full softmax: the vocabulary is ~40 words).
        embedding_init: embeddings start uniform in [-embedding_init, embedding_init]. The
            language model's own ±0.1 makes the cue so faint that both models sit on a long
            plateau before learning anything; ±1 lets the cue reach the recurrent layer.
        batch_size, bptt, epochs: training (see TrainConfig); bptt is about twice the
            longest lag so that cue and dependent word usually share a window.
        optimizer, lr, clip: plain SGD with gradient clipping, as in the classic long-lag
            experiments (Bengio et al. 1994; Hochreiter & Schmidhuber 1997) and PyTorch's
            word_language_model example. SGD moves each weight in proportion to its
            gradient, so a gradient that shrinks over the lag teaches little. With the
            defaults (seed 0) the LSTM holds every lag from step ~150 while the RNN learns
            lags 1-3 only. This is a fixed-budget comparison, not a proof of incapacity:
            with Adam, or SGD at lr 5, the tanh RNN also learned to latch these simple cues
            for all lags, after 2-3 times as many steps as the LSTM (measured: ~350-600).
        eval_every: training steps between two measured curves.
        eval_per_lag: held-out sequences per lag (split evenly among the cue families).
        threads: torch CPU threads while training (1: these matrices are too small to share
            out; None leaves the setting alone, as the app does).
        out: keep each model's checkpoint in out/<arch> (None: a temporary folder).
    """

    archs: tuple[str, ...] = ("rnn", "lstm")
    eval_lags: tuple[int, ...] = DEFAULT_LAGS
    train_lags: LagDistribution = LagDistribution("loguniform", 1, 60)
    filler_vocab_size: int = 24
    num_cue_types: int = 2
    num_sequences: int = 24000
    seed: int = 0
    embedding_size: int = 32
    hidden_size: int = 64
    embedding_init: float = 1.0
    batch_size: int = 64
    bptt: int = 128
    optimizer: str = "sgd"
    lr: float = 7.0
    clip: float = 0.5
    epochs: int = 12
    eval_every: int = 32
    eval_per_lag: int = 128
    threads: int | None = 1
    out: str | None = None

    def corpus_spec(self) -> LongLagSpec:
        """The generator settings of this run."""
        return LongLagSpec(self.train_lags, self.filler_vocab_size, self.num_cue_types, self.num_sequences, self.seed)

    def validate(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        for arch in self.archs:
            if arch not in ARCHITECTURES:
                raise ValueError(f"Lab models must be among {ARCHITECTURES}; got {arch!r}.")
        if not self.archs:
            raise ValueError("Pass at least one model to train, e.g. archs=('rnn', 'lstm').")
        if not self.eval_lags:
            raise ValueError("Pass at least one lag to evaluate.")
        if max(self.eval_lags) > self.bptt:
            raise ValueError(f"The longest evaluated lag ({max(self.eval_lags)}) exceeds bptt={self.bptt}: no training window "
                             "could hold cue and answer together. Raise bptt or shorten the lags.")
        check_lags_possible(min(self.eval_lags), self.num_cue_types)
        self.corpus_spec()  # raises on a bad corpus setting
        if not self.embedding_init > 0:
            raise ValueError(f"embedding_init must be positive; got {self.embedding_init}.")
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be at least 1; got {self.eval_every}.")


@dataclass
class ModelRun:
    """One trained model of the lab and its curves.

    Attributes:
        name: the architecture ("rnn", "lstm", "gru").
        model: the trained model (eval mode), for further analysis.
        curve: accuracy-vs-lag of the final model.
        history: (training step, curve) every ``eval_every`` steps.
        train_seconds: wall time of training, measurements included.
        final_train_loss: mean training loss of the last logged steps (nats per token).
        status: what train() reported ("finished", "stopped", ...).
        steps: training steps taken.
    """

    name: str
    model: LanguageModel
    curve: LagCurve
    history: list[tuple[int, LagCurve]]
    train_seconds: float
    final_train_loss: float | None
    status: str
    steps: int

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers: the curve and the lags where accuracy first falls below 0.9 and 0.6."""
        return {"name": self.name, "curve": self.curve.to_dict(), "first_lag_below_0.9": self.curve.first_lag_below(0.9),
                "first_lag_below_0.6": self.curve.first_lag_below(0.6), "train_seconds": round(self.train_seconds, 2),
                "final_train_loss": self.final_train_loss, "status": self.status, "steps": self.steps,
                "parameters": self.model.num_parameters()}


@dataclass
class LabResult:
    """Everything a lab run produced: the models, their curves, the chance level and the wall time."""

    config: LabConfig
    tokenizer: WordTokenizer
    runs: dict[str, ModelRun]
    chance: float
    wall_seconds: float
    samples: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary of the run."""
        return {"config": dataclasses.asdict(self.config), "chance": self.chance, "wall_seconds": round(self.wall_seconds, 2),
                "vocab_size": self.tokenizer.vocab_size, "samples": self.samples,
                "models": {name: run.summary() for name, run in self.runs.items()}}


def train_one(
    arch: str,
    config: LabConfig,
    corpus: Corpus,
    tokenizer: WordTokenizer,
    sequences: list[LagSequence],
    out: str,
    on_progress: ProgressCallback | None = None,
    on_log: LogCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ModelRun:
    """Train one model of the lab with model.training.train, measuring its curve as it learns.

    Args:
        arch: "rnn", "lstm" or "gru".
        config: the lab settings.
        corpus: the long-lag corpus; tokenizer: its vocabulary.
        sequences: held-out evaluation sequences.
        out: checkpoint folder for train().
        on_progress: called with (arch, step, curve) every ``config.eval_every`` steps.
        on_log: called with (arch, training log record plus "accuracy") at the same moments.
        should_stop: polled between steps; True ends training early.

    Returns:
        A :class:`ModelRun` holding the trained model.
    """
    model_config = ModelConfig(arch=arch, vocab_size=tokenizer.vocab_size, embedding_size=config.embedding_size,
                               hidden_size=config.hidden_size, dropout=0.0, decoder="full")
    train_config = TrainConfig(out=out, model=model_config, batch_size=config.batch_size, bptt=config.bptt, optimizer=config.optimizer, lr=config.lr,
                               clip=config.clip, epochs=config.epochs, seed=config.seed, threads=config.threads,
                               eval_batch_size=64, log_every=config.eval_every, save_every_minutes=1e6, progress=False,
                               command=["python", "-m", "model.lab"])
    holder: dict[str, LanguageModel] = {}
    history: list[tuple[int, LagCurve]] = []
    last_loss: list[float] = []

    def take_model(model: LanguageModel) -> None:
        # Same seed for every arch, so the RNN and the LSTM start from the same embeddings.
        generator = torch.Generator().manual_seed(config.seed)
        with torch.no_grad():
            weight = model.embedding.weight  # [V, E]
            weight.copy_((torch.rand(weight.shape, generator=generator) * 2 - 1) * config.embedding_init)
        holder["model"] = model

    def log(record: dict[str, Any]) -> None:
        curve = lag_accuracy(holder["model"], tokenizer, sequences)
        history.append((record["step"], curve))
        last_loss[:] = [record["train_loss"]]
        if on_log:
            on_log(arch, dict(record, accuracy=curve.to_dict()["accuracy"]))
        if on_progress:
            on_progress(arch, record["step"], curve)

    start = time.perf_counter()
    result = train(train_config, corpus, tokenizer, should_stop=should_stop, on_log=log, on_model=take_model)
    model = holder["model"].eval()
    curve = lag_accuracy(model, tokenizer, sequences)
    if not history or history[-1][0] != result.steps:
        history.append((result.steps, curve))
        if on_progress:
            on_progress(arch, result.steps, curve)
    seconds = time.perf_counter() - start
    return ModelRun(arch, model, curve, history, seconds, last_loss[0] if last_loss else None, result.status, result.steps)


def run_lab(
    config: LabConfig | None = None,
    on_progress: ProgressCallback | None = None,
    on_log: LogCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LabResult:
    """Generate the corpus, train each model in turn and measure accuracy vs lag.

    Args:
        config: lab settings (defaults: :class:`LabConfig`).
        on_progress: called with (model name, step, :class:`LagCurve`) as training proceeds.
        on_log: called with (model name, training log record).
        should_stop: polled between steps; True stops the current model and skips the rest
            (as does Ctrl-C or SIGTERM when run from the main thread).

    Returns:
        A :class:`LabResult` with the trained models and their curves.
    """
    config = config or LabConfig()
    config.validate()
    start = time.perf_counter()
    spec = config.corpus_spec()
    corpus = build_corpus(spec)
    tokenizer = WordTokenizer.train(corpus.splits["train"], min_frequency=1)
    sequences = evaluation_sequences(list(config.eval_lags), config.eval_per_lag, spec, seed=config.seed + 1_000_003)
    runs: dict[str, ModelRun] = {}
    with tempfile.TemporaryDirectory(prefix="memory-lab-") as scratch:
        for arch in config.archs:
            if should_stop and should_stop():
                break
            out = os.path.join(config.out or scratch, arch)
            runs[arch] = train_one(arch, config, corpus, tokenizer, sequences, out, on_progress, on_log, should_stop)
            if runs[arch].status != "finished":
                break  # stopped or interrupted (Ctrl-C): the remaining models are skipped too
    chance = sum(s.chance for s in sequences) / len(sequences)
    return LabResult(config, tokenizer, runs, chance, time.perf_counter() - start, corpus.splits["train"][:4])


if __name__ == "__main__":
    from model.lab_cli import main

    raise SystemExit(main())
