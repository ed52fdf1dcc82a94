"""The long-range dependency lab: how far back can a plain RNN and an LSTM remember a cue, over many seeds?

    python -m model.lab [--seeds 8] [--lags 1 3 5 10 20 40 60] [--json]

1. Generate a controlled corpus (data/long_lag.py): a cue ("Mr." / "Mrs.", "(" / "[" / "{")
   fixes a word ("his" / "her", ")" / "]" / "}") ``lag`` tokens later, with filler between.
2. Train S seeds of a tanh RNN and S seeds of an LSTM with the same number of parameters,
   each architecture as one batched computation (model/lab/batched_model.py): every seed
   has its own initial weights and reads the same paragraphs in its own order
   (model/lab/batched_training.py). Seed s of the RNN and seed s of the LSTM read the same order.
3. On held-out sequences of known lag, measure each seed's accuracy at the dependent word
   (model/lab/lag_accuracy.py): right when the model ranks the right closing word first among
   the cue family's alternatives. Chance is 1 / (number of alternatives).
4. Per lag, report the share of seeds that learned the dependency (accuracy >= 0.9) and the
   mean, min and max accuracy over the seeds (:class:`LagShare`).

Before training, one step of each architecture is timed on this machine; the expected run
time is that ratio times the steps (:class:`LabPlan`), handed to ``on_plan``. Every
``eval_every`` steps the per-lag shares are measured again and handed to
``on_progress(arch, step, shares)``, so a view can draw them as they form.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from data.long_lag import LagDistribution, LongLagSpec, build_corpus, check_lags_possible, evaluation_sequences
from data.tokenizer import WordTokenizer
from model.lab.batched_model import BATCHED_ARCHS, BatchedRecurrentLM, hidden_size_for_parameters, parameter_count
from model.lab.batched_training import BatchedRun, stack_rows, train_batched
from model.lab.lag_accuracy import LagCurve, batched_lag_accuracy

DEFAULT_LAGS = (1, 2, 3, 5, 8, 12, 16, 20, 30, 40, 50, 60)
LEARNED = 0.9  # a seed "learned" lag L when its accuracy there is at least this

# The lab's claim: at every lag >= CLAIM_FROM_LAG the LSTM reaches LEARNED and the RNN stays at or below
# CLAIM_RNN_AT_MOST, each for at least CLAIM_SHARE of the seeds (15 of 16).
CLAIM_FROM_LAG = 30
CLAIM_RNN_AT_MOST = 0.65
CLAIM_SHARE = 15 / 16


ProgressCallback = Callable[[str, int, list["LagShare"]], None]
PlanCallback = Callable[["LabPlan"], None]


@dataclass
class LabConfig:
    """Settings of one lab run (see the README's "The long-range lab" for how they were chosen).

    Attributes:
        archs: the architectures, each "rnn" or "lstm"; they share every other setting.
        seeds: how many seeds per architecture (seeds first_seed .. first_seed + seeds - 1).
        first_seed: the first seed.
        eval_lags: lags measured on held-out sequences.
        train_lags: lag distribution of the training paragraphs.
        filler_vocab_size, num_cue_types, num_sequences, corpus_seed, filler_pattern, distractor_rate:
            the corpus (LongLagSpec); one pool of paragraphs, which every seed reads in its own order.
        embedding_size: word vector width of every model.
        lstm_hidden_size: the LSTM's width.
        rnn_hidden_size: the RNN's width; None gives the RNN as many parameters as the LSTM.
        embedding_init: embeddings start uniform in [-embedding_init, embedding_init]; ±1 lets
            the cue reach the recurrent layer from the start (the usual ±0.1 makes it faint).
        forget_bias: the LSTM's forget-gate bias at the start.
        batch_size, bptt, steps: rows per seed, window length, SGD steps per seed.
        lr, clip: plain SGD with each seed's gradient norm clipped, as in the classic long-lag
            experiments (Bengio et al. 1994; Hochreiter & Schmidhuber 1997).
        eval_every: steps between two measurements of the shares.
        eval_per_lag: held-out sequences per lag (split evenly among the cue families).
        threads: torch CPU threads (None leaves the setting alone, as the app does).
    """

    archs: tuple[str, ...] = ("rnn", "lstm")
    seeds: int = 8
    first_seed: int = 0
    eval_lags: tuple[int, ...] = DEFAULT_LAGS
    train_lags: LagDistribution = LagDistribution("loguniform", 1, 60)
    filler_vocab_size: int = 24
    num_cue_types: int = 2
    num_sequences: int = 24000
    corpus_seed: int = 0
    filler_pattern: str = "random"
    distractor_rate: float = 0.0
    embedding_size: int = 32
    lstm_hidden_size: int = 32
    rnn_hidden_size: int | None = None
    embedding_init: float = 1.0
    forget_bias: float = 1.0
    batch_size: int = 32
    bptt: int = 128
    steps: int = 400
    lr: float = 7.0
    clip: float = 0.5
    eval_every: int = 50
    eval_per_lag: int = 128
    threads: int | None = 1

    def seed_list(self) -> tuple[int, ...]:
        """The seeds, in order."""
        return tuple(range(self.first_seed, self.first_seed + self.seeds))

    def corpus_spec(self) -> LongLagSpec:
        """The generator settings of this run."""
        return LongLagSpec(
            self.train_lags,
            self.filler_vocab_size,
            self.num_cue_types,
            self.num_sequences,
            self.corpus_seed,
            filler_pattern=self.filler_pattern,
            distractor_rate=self.distractor_rate,
        )

    def hidden_size(self, arch: str, vocab_size: int) -> int:
        """The width of ``arch``: the LSTM's own; the RNN's own or the one matching the LSTM's parameter count."""
        if arch == "lstm" or self.rnn_hidden_size is not None:
            return self.lstm_hidden_size if arch == "lstm" else int(self.rnn_hidden_size)
        target = parameter_count("lstm", vocab_size, self.embedding_size, self.lstm_hidden_size)
        return hidden_size_for_parameters("rnn", target, vocab_size, self.embedding_size)

    def validate(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        if not self.archs:
            raise ValueError("Pass at least one architecture to train, e.g. archs=('rnn', 'lstm').")
        for arch in self.archs:
            if arch not in BATCHED_ARCHS:
                raise ValueError(f"Lab models must be among {BATCHED_ARCHS}; got {arch!r}.")
        for name in (
            "seeds",
            "steps",
            "batch_size",
            "bptt",
            "eval_every",
            "eval_per_lag",
            "embedding_size",
            "lstm_hidden_size",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if self.rnn_hidden_size is not None and self.rnn_hidden_size < 1:
            raise ValueError(f"rnn_hidden_size must be a positive integer or None; got {self.rnn_hidden_size!r}.")
        if not self.eval_lags:
            raise ValueError("Pass at least one lag to evaluate.")
        if max(self.eval_lags) > self.bptt:
            raise ValueError(
                f"The longest evaluated lag ({max(self.eval_lags)}) exceeds bptt={self.bptt}: no training window "
                "could hold cue and answer together. Raise bptt or shorten the lags."
            )
        check_lags_possible(min(self.eval_lags), self.num_cue_types)
        self.corpus_spec()  # raises on a bad corpus setting
        if not self.embedding_init > 0:
            raise ValueError(f"embedding_init must be positive; got {self.embedding_init}.")
        if not (self.lr > 0 and self.clip > 0):
            raise ValueError(f"lr and clip must be positive; got lr={self.lr}, clip={self.clip}.")


@dataclass(frozen=True)
class LagShare:
    """How the seeds did at one lag.

    Attributes:
        lag: tokens from the cue to the dependent word.
        learned: seeds with accuracy >= LEARNED (0.9) there; seeds: how many were measured.
        mean_accuracy, min_accuracy, max_accuracy: over the seeds (each a share of held-out sequences).
        chance: accuracy of a uniform guess among each cue's closing words.
    """

    lag: int
    learned: int
    seeds: int
    mean_accuracy: float
    min_accuracy: float
    max_accuracy: float
    chance: float

    @property
    def learned_share(self) -> float:
        """Share of seeds that learned this lag (0 to 1)."""
        return self.learned / self.seeds

    def to_dict(self) -> dict[str, Any]:
        return {
            "lag": self.lag,
            "learned_share": round(self.learned_share, 4),
            "learned": self.learned,
            "seeds": self.seeds,
            "mean_accuracy": round(self.mean_accuracy, 4),
            "min_accuracy": round(self.min_accuracy, 4),
            "max_accuracy": round(self.max_accuracy, 4),
            "chance": round(self.chance, 4),
        }


def lag_shares(curves: list[LagCurve], threshold: float = LEARNED) -> list[LagShare]:
    """Per lag, the share of ``curves`` (one per seed) at or above ``threshold`` and their mean, min and max."""
    if not curves:
        raise ValueError("Pass at least one seed's curve.")
    shares = []
    for lag in sorted(curves[0].accuracy):
        values = [curve.accuracy[lag] for curve in curves]
        shares.append(
            LagShare(
                lag,
                sum(value >= threshold for value in values),
                len(values),
                sum(values) / len(values),
                min(values),
                max(values),
                curves[0].chance[lag],
            )
        )
    return shares


@dataclass(frozen=True)
class ClaimCheck:
    """Does "the LSTM learns lag L, the plain RNN does not" hold at every lag >= CLAIM_FROM_LAG?

    Attributes:
        seeds: seeds per architecture.
        lags: the measured lags >= CLAIM_FROM_LAG.
        lstm_learned: the fewest LSTM seeds with accuracy >= LEARNED at any of those lags.
        rnn_below: the fewest RNN seeds with accuracy <= CLAIM_RNN_AT_MOST at any of those lags.
    """

    seeds: int
    lags: tuple[int, ...]
    lstm_learned: int
    rnn_below: int

    @property
    def required(self) -> int:
        """Seeds that must pass on each side: CLAIM_SHARE of them, rounded up (15 of 16, 8 of 8)."""
        return math.ceil(CLAIM_SHARE * self.seeds - 1e-9)

    @property
    def holds(self) -> bool:
        return bool(self.lags) and self.lstm_learned >= self.required and self.rnn_below >= self.required

    def to_dict(self) -> dict[str, Any]:
        return {
            "seeds": self.seeds,
            "lags": list(self.lags),
            "lstm_learned": self.lstm_learned,
            "rnn_below": self.rnn_below,
            "required": self.required,
            "holds": self.holds,
        }


def claim_check(accuracy_by_seed: dict[str, dict[Any, dict[Any, float]]]) -> ClaimCheck:
    """Check the claim on per-seed accuracies: arch -> seed -> lag -> accuracy (keys may be str, as in JSON).

    Raises:
        ValueError: the RNN or the LSTM is missing.
    """
    if "rnn" not in accuracy_by_seed or "lstm" not in accuracy_by_seed:
        raise ValueError(f"The claim compares the RNN with the LSTM; got only {sorted(accuracy_by_seed)}. Train both.")
    per_arch = {
        arch: [{int(lag): value for lag, value in curve.items()} for curve in seeds.values()]
        for arch, seeds in accuracy_by_seed.items()
    }
    lags = tuple(sorted(lag for lag in per_arch["lstm"][0] if lag >= CLAIM_FROM_LAG))
    lstm = min((sum(curve[lag] >= LEARNED for curve in per_arch["lstm"]) for lag in lags), default=0)
    rnn = min((sum(curve[lag] <= CLAIM_RNN_AT_MOST for curve in per_arch["rnn"]) for lag in lags), default=0)
    return ClaimCheck(len(per_arch["lstm"]), lags, lstm, rnn)


@dataclass
class ArchRun:
    """The S trained seeds of one architecture.

    Attributes:
        name: "rnn" or "lstm".
        hidden_size, parameters: the width and the parameter count of each seed's model.
        seeds: the seeds, in the order of ``curves``.
        model: the S trained models (BatchedRecurrentLM.to_language_model(s) gives one as a LanguageModel).
        curves: each seed's final accuracy-vs-lag curve.
        history: (step, shares) every ``eval_every`` steps.
        run: the training run (per-step losses, steps, seconds, status).
        eval_seconds: wall time of all measurements.
    """

    name: str
    hidden_size: int
    parameters: int
    seeds: tuple[int, ...]
    model: BatchedRecurrentLM
    curves: list[LagCurve]
    history: list[tuple[int, list[LagShare]]]
    run: BatchedRun
    eval_seconds: float

    def shares(self) -> list[LagShare]:
        return lag_shares(self.curves)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: per lag {lag, learned_share, mean/min/max accuracy, ...}, per-seed accuracies, timing."""
        return {
            "name": self.name,
            "hidden_size": self.hidden_size,
            "parameters": self.parameters,
            "seeds": list(self.seeds),
            "lags": [share.to_dict() for share in self.shares()],
            "accuracy_by_seed": {
                str(seed): {str(lag): value for lag, value in curve.accuracy.items()}
                for seed, curve in zip(self.seeds, self.curves)
            },
            "steps": self.run.steps,
            "status": self.run.status,
            "train_seconds": round(self.run.seconds, 2),
            "seconds_per_step": round(self.run.seconds_per_step, 5),
            "eval_seconds": round(self.eval_seconds, 2),
            "final_train_loss": [round(value, 4) for value in self.run.losses[-1]] if self.run.losses else None,
        }


@dataclass(frozen=True)
class LabPlan:
    """The expected run time, from one step of each architecture timed on this machine before training.

    Attributes:
        seconds_per_step: arch -> wall seconds of one batched training step (all seeds).
        seconds_per_evaluation: arch -> wall seconds of one measurement of every seed's curve.
        steps: steps per architecture; evaluations: measurements per architecture.
        seeds: seeds per architecture.
    """

    seconds_per_step: dict[str, float]
    seconds_per_evaluation: dict[str, float]
    steps: int
    evaluations: int
    seeds: int

    @property
    def expected_seconds(self) -> float:
        """sum over architectures of (seconds per step x steps + seconds per evaluation x evaluations)."""
        return sum(
            self.seconds_per_step[arch] * self.steps + self.seconds_per_evaluation[arch] * self.evaluations
            for arch in self.seconds_per_step
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds_per_step": {k: round(v, 5) for k, v in self.seconds_per_step.items()},
            "seconds_per_evaluation": {k: round(v, 4) for k, v in self.seconds_per_evaluation.items()},
            "steps": self.steps,
            "evaluations": self.evaluations,
            "seeds": self.seeds,
            "expected_seconds": round(self.expected_seconds, 3),  # 0.1 s steps read 0.0 on tiny runs
        }


@dataclass
class LabResult:
    """Everything a lab run produced."""

    config: LabConfig
    tokenizer: WordTokenizer
    runs: dict[str, ArchRun]
    plan: LabPlan
    chance: dict[int, float]
    wall_seconds: float
    samples: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """ "finished" when every architecture ran all its steps, else "stopped"."""
        finished = len(self.runs) == len(self.config.archs) and all(
            run.run.status == "finished" for run in self.runs.values()
        )
        return "finished" if finished else "stopped"

    def claim(self) -> ClaimCheck | None:
        """The claim check (None unless both the RNN and the LSTM were trained)."""
        if "rnn" not in self.runs or "lstm" not in self.runs:
            return None
        return claim_check(
            {
                name: {seed: curve.accuracy for seed, curve in zip(run.seeds, run.curves)}
                for name, run in self.runs.items()
            }
        )

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary of the run."""
        config = dataclasses.asdict(self.config)
        claim = self.claim()
        return {
            "config": config,
            "seeds": list(self.config.seed_list()),
            "status": self.status,
            "learned_threshold": LEARNED,
            "chance": {str(k): round(v, 4) for k, v in self.chance.items()},
            "wall_seconds": round(self.wall_seconds, 3),
            "plan": self.plan.to_dict(),
            "isa": torch.backends.cpu.get_cpu_capability(),
            "torch_threads": torch.get_num_threads(),
            "vocab_size": self.tokenizer.vocab_size,
            "samples": self.samples,
            "claim": claim.to_dict() if claim else None,
            "models": {name: run.summary() for name, run in self.runs.items()},
        }


def _time_one_step(model: BatchedRecurrentLM, rows: torch.Tensor, config: LabConfig) -> float:
    """Wall seconds of one training step of all seeds, on a copy (the model itself is untouched); the first step warms up."""
    probe = copy.deepcopy(model)
    run = train_batched(probe, rows[:, :, : 2 * config.bptt + 1], 2, config.bptt, config.lr, config.clip)
    return run.step_seconds[-1]


def _chance_by_lag(sequences: list) -> dict[int, float]:
    """Lag -> accuracy of a uniform guess among each sequence's closing words, averaged over the sequences."""
    by_lag: dict[int, list[float]] = {}
    for sequence in sequences:
        by_lag.setdefault(sequence.lag, []).append(sequence.chance)
    return {lag: sum(values) / len(values) for lag, values in sorted(by_lag.items())}


def run_lab(
    config: LabConfig | None = None,
    on_plan: PlanCallback | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LabResult:
    """Generate the corpus, time one step, train every architecture's seeds in turn and measure them.

    Args:
        config: lab settings (defaults: :class:`LabConfig`).
        on_plan: called once, before training, with the measured :class:`LabPlan`.
        on_progress: called with (arch, step, per-lag shares) every ``eval_every`` steps and at the end.
        should_stop: polled after every step; True stops the current architecture and skips the rest.

    Returns:
        A :class:`LabResult` with the trained models and their shares.
    """
    config = config or LabConfig()
    config.validate()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    start = time.perf_counter()
    spec = config.corpus_spec()
    corpus = build_corpus(spec)
    tokenizer = WordTokenizer.train(corpus.splits["train"], min_frequency=1)
    paragraphs = list(tokenizer.iter_ids(corpus.splits["train"]))
    sequences = evaluation_sequences(
        list(config.eval_lags), config.eval_per_lag, spec, seed=config.corpus_seed + 1_000_003
    )
    seeds = config.seed_list()
    rows = stack_rows(paragraphs, seeds, config.batch_size, config.steps, config.bptt)  # [S, B, steps * bptt + 1]
    models = {
        arch: BatchedRecurrentLM(
            arch,
            seeds,
            tokenizer.vocab_size,
            config.embedding_size,
            config.hidden_size(arch, tokenizer.vocab_size),
            embedding_init=config.embedding_init,
            forget_bias=config.forget_bias,
        )
        for arch in config.archs
    }
    evaluations = config.steps // config.eval_every + (config.steps % config.eval_every != 0)
    step_seconds, eval_seconds = {}, {}
    for arch, model in models.items():
        step_seconds[arch] = _time_one_step(model, rows, config)
        began = time.perf_counter()
        batched_lag_accuracy(model, tokenizer, sequences)
        eval_seconds[arch] = time.perf_counter() - began
    plan = LabPlan(step_seconds, eval_seconds, config.steps, evaluations, len(seeds))
    if on_plan:
        on_plan(plan)
    runs: dict[str, ArchRun] = {}
    for arch, model in models.items():
        if should_stop and should_stop():
            break
        runs[arch] = _train_arch(arch, model, rows, tokenizer, sequences, config, on_progress, should_stop)
        if runs[arch].run.status != "finished":
            break  # stopped: the remaining architectures are skipped too
    return LabResult(
        config,
        tokenizer,
        runs,
        plan,
        _chance_by_lag(sequences),
        time.perf_counter() - start,
        corpus.splits["train"][:4],
    )


def _train_arch(
    arch: str,
    model: BatchedRecurrentLM,
    rows: torch.Tensor,
    tokenizer: WordTokenizer,
    sequences: list,
    config: LabConfig,
    on_progress: ProgressCallback | None,
    should_stop: Callable[[], bool] | None,
) -> ArchRun:
    """Train one architecture's seeds, measuring every ``eval_every`` steps and at the end."""
    history: list[tuple[int, list[LagShare]]] = []
    latest: dict[str, Any] = {"curves": None, "seconds": 0.0}

    def measure(step: int) -> None:
        began = time.perf_counter()
        latest["curves"] = batched_lag_accuracy(model, tokenizer, sequences)
        latest["seconds"] += time.perf_counter() - began
        history.append((step, lag_shares(latest["curves"])))
        if on_progress:
            on_progress(arch, step, history[-1][1])

    def on_step(step: int, run: BatchedRun) -> None:
        if step % config.eval_every == 0 or step == config.steps:
            measure(step)
            model.train()

    run = train_batched(
        model, rows, config.steps, config.bptt, config.lr, config.clip, on_step=on_step, should_stop=should_stop
    )
    if not history or history[-1][0] != run.steps:
        measure(run.steps)  # stopped between two measurements: measure where it stopped
    return ArchRun(
        arch,
        model.hidden_size,
        model.parameters_per_model(),
        model.seeds,
        model.eval(),
        latest["curves"],
        history,
        run,
        latest["seconds"],
    )
