"""S independent word-level language models (tanh RNN or LSTM) run as one batched computation.

The lab trains many seeds of the same small model at once. Instead of S modules,
every weight carries a leading seed axis and each product is one batched matrix
product (torch.bmm / baddbmm) over that axis:

    ids [S, B, T] -> embedding [S, B, T, E] -> x = emb @ W_ih + b   [S, B, T, G*H]
    for t: pre = x[:, :, t] + h @ W_hh                               [S, B, G*H]
           RNN:  h = tanh(pre)
           LSTM: i, f, o = sigmoid(pre[..., :3H]); g = tanh(pre[..., 3H:])
                 c = f * c + i * g; h = o * tanh(c)
    logits = h @ W_dec + b_dec                                       [S, B, T, V]

Seed s touches only slice s of every weight, so the sum of the S per-seed losses
has, for slice s, exactly the gradient of model s trained alone. Model s is an
ordinary :class:`model.core.language_model.LanguageModel` in other clothes:
:meth:`BatchedRecurrentLM.to_language_model` copies slice s into one (nn.RNN /
nn.LSTM), and tests/model/lab/test_lab.py proves that the two give the same logits and
the same training run. The LSTM keeps its gates in the order i, f, o, g here (one
sigmoid over the first 3H columns); PyTorch's order is i, f, g, o, and the copy
reorders them.

Each seed is initialised from its own torch.Generator, so seed 3 starts from the
same weights whether it is trained with 3 other seeds or 15.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from model.core.config import CELLS, ModelConfig
from model.core.language_model import LanguageModel
from model.lab.batched_cells import recurrence

BATCHED_ARCHS = ("rnn", "lstm")

# (h, c) for the LSTM, each [S, B, H]; h [S, B, H] for the RNN.
BatchedState = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def hidden_size_for_parameters(arch: str, target: int, vocab_size: int, embedding_size: int) -> int:
    """The hidden width whose model of ``arch`` has the parameter count closest to ``target``.

    Used to give the RNN as many parameters as the LSTM it is compared with
    (an LSTM layer holds four times the recurrent weights of an RNN layer).
    """
    best = min(
        range(1, 4097), key=lambda hidden: abs(parameter_count(arch, vocab_size, embedding_size, hidden) - target)
    )
    return best


def parameter_count(arch: str, vocab_size: int, embedding_size: int, hidden_size: int) -> int:
    """Parameters of one model: embedding, one recurrent layer (two bias vectors, as nn.LSTM), full-softmax decoder."""
    if arch not in BATCHED_ARCHS:
        raise ValueError(f"arch must be one of {BATCHED_ARCHS}; got {arch!r}.")
    gates = CELLS[arch].gate_blocks * hidden_size
    return vocab_size * embedding_size + (embedding_size + hidden_size + 2) * gates + (hidden_size + 1) * vocab_size


class BatchedRecurrentLM(nn.Module):
    """S one-layer language models of one architecture, weights stacked on a leading seed axis.

    Args:
        arch: "rnn" (tanh) or "lstm".
        seeds: one seed per model; model s is initialised from torch.Generator().manual_seed(seeds[s]).
        vocab_size, embedding_size, hidden_size: the sizes of every model.
        embedding_init: embeddings start uniform in [-embedding_init, embedding_init].
        forget_bias: LSTM only: the forget gate's input bias starts here (the other biases start
            uniform in +-1/sqrt(hidden_size), as in nn.LSTM).
        dtype: parameter dtype (float64 for exact comparisons in tests).

    Example:
        >>> model = BatchedRecurrentLM("lstm", [0, 1], vocab_size=10, embedding_size=4, hidden_size=3)
        >>> logits, state = model(torch.zeros(2, 5, 7, dtype=torch.long))
        >>> logits.shape
        torch.Size([2, 5, 7, 10])
    """

    def __init__(
        self,
        arch: str,
        seeds: Sequence[int],
        vocab_size: int,
        embedding_size: int,
        hidden_size: int,
        embedding_init: float = 0.1,
        forget_bias: float = 1.0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if arch not in BATCHED_ARCHS:
            raise ValueError(
                f"Batched models are {BATCHED_ARCHS}; got {arch!r}. Train a GRU with model.training.train."
            )
        if not seeds:
            raise ValueError("Pass at least one seed, e.g. seeds=[0, 1, 2, 3].")
        for name, value in (
            ("vocab_size", vocab_size),
            ("embedding_size", embedding_size),
            ("hidden_size", hidden_size),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        self.arch, self.seeds = arch, tuple(int(seed) for seed in seeds)
        self.vocab_size, self.embedding_size, self.hidden_size = vocab_size, embedding_size, hidden_size
        count, width = len(self.seeds), CELLS[arch].gate_blocks * hidden_size
        self.embedding = nn.Parameter(torch.empty(count, vocab_size, embedding_size, dtype=dtype))  # [S, V, E]
        self.weight_ih = nn.Parameter(torch.empty(count, embedding_size, width, dtype=dtype))  # [S, E, G*H]
        self.weight_hh = nn.Parameter(torch.empty(count, hidden_size, width, dtype=dtype))  # [S, H, G*H]
        # Two bias vectors, as nn.RNN / nn.LSTM keep them (their sum acts; each gets the gradient), so
        # that a seed trained here and the same seed as a LanguageModel take exactly the same steps.
        self.bias_ih = nn.Parameter(torch.empty(count, 1, width, dtype=dtype))  # [S, 1, G*H]
        self.bias_hh = nn.Parameter(torch.empty(count, 1, width, dtype=dtype))  # [S, 1, G*H]
        self.decoder_weight = nn.Parameter(torch.empty(count, hidden_size, vocab_size, dtype=dtype))  # [S, H, V]
        self.decoder_bias = nn.Parameter(torch.zeros(count, 1, vocab_size, dtype=dtype))  # [S, 1, V]
        bound = 1.0 / math.sqrt(hidden_size)  # nn.RNN / nn.LSTM's own uniform bound
        with torch.no_grad():
            for index, seed in enumerate(self.seeds):
                generator = torch.Generator().manual_seed(seed)

                def uniform(shape: tuple[int, ...], limit: float) -> torch.Tensor:
                    return ((torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * limit).to(dtype)

                self.embedding[index] = uniform((vocab_size, embedding_size), embedding_init)
                self.weight_ih[index] = uniform((embedding_size, width), bound)
                self.weight_hh[index] = uniform((hidden_size, width), bound)
                self.bias_ih[index] = uniform((1, width), bound)
                self.bias_hh[index] = uniform((1, width), bound)
                self.decoder_weight[index] = uniform((hidden_size, vocab_size), 0.1)
            if arch == "lstm":
                # As LanguageModel: the forget gate starts open (Jozefowicz et al. 2015).
                self.bias_ih[:, :, hidden_size : 2 * hidden_size] = forget_bias

    @property
    def num_models(self) -> int:
        return len(self.seeds)

    def parameters_per_model(self) -> int:
        """Parameters of one of the S models."""
        return sum(p[0].numel() for p in self.parameters())

    def init_state(self, batch_size: int) -> BatchedState:
        """Zeros [S, B, H] (a pair for the LSTM)."""
        zeros = self.embedding.new_zeros(self.num_models, batch_size, self.hidden_size)
        return (zeros, zeros.clone()) if self.arch == "lstm" else zeros

    def time_major_features(
        self, ids: torch.Tensor, state: BatchedState | None = None
    ) -> tuple[torch.Tensor, BatchedState]:
        """ids [S, B, T] -> top-layer outputs [T, S, B, H] (time first, as the recurrence stores them) and the last state."""
        if ids.dim() != 3 or ids.size(0) != self.num_models:
            raise ValueError(f"ids must be [S={self.num_models}, B, T]; got shape {tuple(ids.shape)}.")
        batch = ids.size(1)
        # The vocabulary is tiny, so project the whole embedding table once ([S, V, G*H]); the
        # recurrence looks each step's rows up: the same numbers as projecting every token's embedding.
        table = torch.baddbmm(self.bias_ih + self.bias_hh, self.embedding, self.weight_ih)  # [S, V, G*H]
        return recurrence(
            self.arch, table, ids.permute(2, 0, 1), self.weight_hh, self.init_state(batch) if state is None else state
        )

    def features(self, ids: torch.Tensor, state: BatchedState | None = None) -> tuple[torch.Tensor, BatchedState]:
        """ids [S, B, T] -> top-layer outputs [S, B, T, H] and the last state."""
        outputs, state = self.time_major_features(ids, state)  # [T, S, B, H]
        return outputs.permute(1, 2, 0, 3), state

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        """features [S, ..., H] -> logits [S, ..., V]."""
        count = features.size(0)
        flat = features.reshape(count, -1, self.hidden_size)  # [S, N, H]
        logits = torch.baddbmm(self.decoder_bias, flat, self.decoder_weight)  # [S, N, V]
        return logits.view(*features.shape[:-1], self.vocab_size)

    def forward(self, ids: torch.Tensor, state: BatchedState | None = None) -> tuple[torch.Tensor, BatchedState]:
        """ids [S, B, T] -> (logits [S, B, T, V], state)."""
        features, state = self.features(ids, state)
        return self.logits_from_features(features), state

    def loss(
        self, ids: torch.Tensor, targets: torch.Tensor, state: BatchedState | None = None
    ) -> tuple[torch.Tensor, BatchedState]:
        """Each model's mean next-word cross-entropy in nats, [S], of targets [S, B, T] after reading ids [S, B, T]; and the last state."""
        count, batch, steps = ids.shape
        outputs, state = self.time_major_features(ids, state)  # [T, S, B, H], a view of [T, S, H, B] storage
        # Every position as a column, [S, H, T*B]: the recurrence keeps its states as [T, S, H, B], so this
        # copy moves runs of B numbers (rows of [S, T*B, H] would be gathered one number at a time), and
        # the decoder's product, the softmax and their gradients then stay in that layout.
        columns = outputs.permute(1, 3, 0, 2).reshape(count, self.hidden_size, steps * batch)  # [S, H, T*B]
        logits = torch.baddbmm(
            self.decoder_bias.transpose(1, 2), self.decoder_weight.transpose(1, 2), columns
        )  # [S, V, T*B]
        losses = nn.functional.cross_entropy(
            logits, targets.transpose(1, 2).reshape(count, steps * batch), reduction="none"
        )  # [S, T*B]
        return losses.mean(dim=1), state  # [S]

    # ------------------------------------------------------------- one model
    def model_config(self) -> ModelConfig:
        """The :class:`ModelConfig` of each of the S models as a LanguageModel."""
        return ModelConfig(
            arch=self.arch,
            vocab_size=self.vocab_size,
            embedding_size=self.embedding_size,
            hidden_size=self.hidden_size,
            dropout=0.0,
            decoder="full",
        )

    def _torch_gate_order(self, matrix: torch.Tensor) -> torch.Tensor:
        """[..., G*H] columns i, f, o, g -> PyTorch's i, f, g, o (the RNN has one block)."""
        if self.arch == "rnn":
            return matrix
        i, f, o, g = matrix.split(self.hidden_size, dim=-1)
        return torch.cat([i, f, g, o], dim=-1)

    def to_language_model(self, index: int) -> LanguageModel:
        """Model ``index`` as an ordinary LanguageModel (nn.RNN / nn.LSTM, eval mode), weights copied."""
        if not 0 <= index < self.num_models:
            raise IndexError(f"Model index must be in [0, {self.num_models}); got {index}.")
        model = LanguageModel(self.model_config()).to(self.embedding.dtype)
        with torch.no_grad():
            model.embedding.weight.copy_(self.embedding[index])
            model.recurrent.weight_ih_l0.copy_(self._torch_gate_order(self.weight_ih[index]).T)
            model.recurrent.weight_hh_l0.copy_(self._torch_gate_order(self.weight_hh[index]).T)
            model.recurrent.bias_ih_l0.copy_(self._torch_gate_order(self.bias_ih[index, 0]))
            model.recurrent.bias_hh_l0.copy_(self._torch_gate_order(self.bias_hh[index, 0]))
            model.decoder.weight.copy_(self.decoder_weight[index].T)
            model.decoder.bias.copy_(self.decoder_bias[index, 0])
        return model.eval()
