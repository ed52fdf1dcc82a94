"""The model configuration: a dataclass that travels with every checkpoint as config.json."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from data.echo import shown as _shown


@dataclass(frozen=True)
class Architecture:
    """What the rest of the code needs to know about one recurrent cell: the one table to extend for a new cell.

    Attributes:
        gate_blocks: G, the blocks of H rows in W_ih and W_hh (PyTorch's layout: RNN 1, GRU 3 r z n, LSTM 4 i f g o).
        has_cell_state: the state is (h, c) rather than h alone (the LSTM's conveyor belt).
        traces: what model.analysis.memory.traces records per word and unit, in display order.
        gates: the traces that are gates, values in (0, 1) (the RNN's tanh slope stands in for them).
        keep_gate: the gate whose product over the words says how much of the memory survives
            (model.analysis.memory.products.forget_retention); None for the RNN, which has none.
    """

    gate_blocks: int
    has_cell_state: bool
    traces: tuple[str, ...]
    gates: tuple[str, ...]
    keep_gate: str | None


CELLS = {
    "rnn": Architecture(1, False, ("hidden", "preactivation", "slope"), ("slope",), None),
    "lstm": Architecture(
        4,
        True,
        ("input_gate", "forget_gate", "output_gate", "candidate", "cell", "hidden"),
        ("input_gate", "forget_gate", "output_gate"),
        "forget_gate",
    ),
    "gru": Architecture(
        3, False, ("reset_gate", "update_gate", "candidate", "hidden"), ("reset_gate", "update_gate"), "update_gate"
    ),
}
ARCHITECTURES = tuple(CELLS)
DECODERS = ("full", "adaptive")

# Upper bounds, checked before anything is allocated: a config.json is a file anyone can edit, and
# `hidden_size: 20000` once cost 54 s and 6 GB before the weights were even compared with it. The
# bounds are far above anything this project trains (the shipped models: 19,390 words, 256 / 512
# units, one layer) and below what would not fit in the memory of an ordinary machine anyway.
MAX_VOCAB_SIZE = 1_000_000
MAX_WIDTH = 8192  # embedding_size and hidden_size
MAX_LAYERS = 16
MAX_CUTOFFS = 16
_SIZE_LIMITS = {
    "vocab_size": MAX_VOCAB_SIZE,
    "embedding_size": MAX_WIDTH,
    "hidden_size": MAX_WIDTH,
    "num_layers": MAX_LAYERS,
}


@dataclass
class ModelConfig:
    """Everything needed to rebuild a language model's modules.

    Attributes:
        arch: "rnn" (tanh), "lstm" or "gru".
        vocab_size: number of token ids, specials included.
        embedding_size: width of the word embedding.
        hidden_size: width of each recurrent layer.
        num_layers: stacked recurrent layers.
        dropout: dropout on the embedding, between layers and before the decoder.
        tie_weights: share the embedding matrix with a full-softmax decoder
            (needs embedding_size == hidden_size and decoder == "full").
        decoder: "full" softmax, or "adaptive" (Grave et al. 2017), which is
            4-5x faster on CPU for a 19k vocabulary.
        adaptive_cutoffs: id cut-offs of the adaptive softmax clusters (ids are
            frequency-ordered by the tokenizer).
        adaptive_div_value: each tail cluster's width shrinks by this factor.
    """

    arch: str = "lstm"
    vocab_size: int = 0
    embedding_size: int = 256
    hidden_size: int = 256
    num_layers: int = 1
    dropout: float = 0.2
    tie_weights: bool = False
    decoder: str = "adaptive"
    adaptive_cutoffs: list[int] = field(default_factory=lambda: [2000, 8000])
    adaptive_div_value: float = 4.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first field that breaks a rule (types and upper bounds included)."""
        if not isinstance(self.arch, str) or self.arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {ARCHITECTURES}; got {_shown(self.arch)}.")
        if not isinstance(self.decoder, str) or self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}; got {_shown(self.decoder)}.")
        for name, limit in _SIZE_LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {_shown(value)}.")
            if value > limit:
                raise ValueError(
                    f"{name} must be at most {limit:,} (model/core/config.py bounds every size); got {_shown(value)}."
                )
        if not _is_number(self.dropout) or not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {_shown(self.dropout)}.")
        if not isinstance(self.tie_weights, bool):
            raise ValueError(f"tie_weights must be true or false; got {_shown(self.tie_weights)}.")
        if (
            not isinstance(self.adaptive_cutoffs, (list, tuple))
            or len(self.adaptive_cutoffs) > MAX_CUTOFFS
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in self.adaptive_cutoffs)
        ):
            raise ValueError(
                f"adaptive_cutoffs must be a list of at most {MAX_CUTOFFS} integers; got {_shown(self.adaptive_cutoffs)}."
            )
        if not _is_number(self.adaptive_div_value) or not 1.0 <= float(self.adaptive_div_value) <= 1024.0:
            raise ValueError(
                f"adaptive_div_value must be positive, in [1, 1024] (each tail cluster is that many times narrower than the last); "
                f"got {_shown(self.adaptive_div_value)}."
            )
        if self.tie_weights and self.decoder != "full":
            raise ValueError(
                "tie_weights needs decoder='full'; the adaptive softmax has no single output matrix to tie."
            )
        if self.tie_weights and self.embedding_size != self.hidden_size:
            raise ValueError(
                f"tie_weights needs embedding_size == hidden_size; got {self.embedding_size} and {self.hidden_size}."
            )
        if self.decoder == "adaptive":
            cutoffs = list(self.adaptive_cutoffs)
            if cutoffs != sorted(set(cutoffs)) or not cutoffs or cutoffs[0] < 1 or cutoffs[-1] >= self.vocab_size:
                raise ValueError(
                    f"adaptive_cutoffs must be increasing, unique and inside (0, vocab_size={self.vocab_size}); got {cutoffs}. "
                    "Pass smaller --cutoffs or use --decoder full for a small vocabulary."
                )
            # Tail cluster i projects to hidden_size // div_value**(i+1) dims (as nn.AdaptiveLogSoftmaxWithLoss
            # computes it); zero dims would make every word of that cluster equally likely forever.
            narrowest = int(self.hidden_size // (self.adaptive_div_value ** len(cutoffs)))
            if narrowest < 1:
                raise ValueError(
                    f"With hidden_size={self.hidden_size}, adaptive_div_value={self.adaptive_div_value} and "
                    f"{len(cutoffs)} cut-offs the last adaptive-softmax cluster gets {narrowest} dimensions. "
                    "Use a larger hidden size, fewer --cutoffs or --decoder full."
                )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        """The config from a parsed config.json; ValueError naming what is wrong (never TypeError)."""
        if not isinstance(values, dict):
            raise ValueError(f"config.json must hold a JSON object; got {type(values).__name__}.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(key) for key in set(values) - known)
        if unknown:
            raise ValueError(f"config.json has unknown fields {_shown(unknown)}; known fields are {sorted(known)}.")
        return cls(**values)


def _is_number(value: object) -> bool:
    """A real, finite int or float (bool, str, None, NaN and infinity are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def default_cutoffs(vocab_size: int) -> list[int]:
    """Adaptive-softmax cut-offs that suit ``vocab_size`` (frequency-ordered ids)."""
    candidates = [2000, 8000]
    cutoffs = [c for c in candidates if c < vocab_size]
    if not cutoffs:
        cutoffs = [max(1, vocab_size // 2)]
    return cutoffs
