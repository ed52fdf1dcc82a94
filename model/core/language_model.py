"""One word-level language model class for a tanh RNN, an LSTM and a GRU.

    ids [B, T] -> embedding [B, T, E] -> dropout -> nn.RNN / nn.LSTM / nn.GRU
    (num_layers) -> outputs [B, T, H] -> dropout -> decoder -> logits [B, T, V]

``forward`` returns logits and the recurrent state and does nothing else. With
the adaptive softmax the "logits" are its full log-probabilities, which are
valid logits (log_softmax leaves them unchanged). Training calls
:meth:`features` and :meth:`loss` instead, so it never builds the full [B, T, V]
matrix. Gate and cell traces are computed elsewhere (model/analysis) from these
same weights.
"""

from __future__ import annotations

import torch
from torch import nn

from model.core.config import ModelConfig

# LSTM state is (h, c), each [num_layers, B, H]; RNN and GRU state is h [num_layers, B, H].
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]

_RECURRENT = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class LanguageModel(nn.Module):
    """Embedding -> dropout -> recurrent layers -> dropout -> decoder.

    Example:
        >>> config = ModelConfig(arch="lstm", vocab_size=100, embedding_size=8, hidden_size=8, decoder="full")
        >>> logits, state = LanguageModel(config)(torch.zeros(2, 5, dtype=torch.long))
        >>> logits.shape
        torch.Size([2, 5, 100])
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size)
        self.dropout = nn.Dropout(config.dropout)
        recurrent_kwargs = dict(
            input_size=config.embedding_size,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        if config.arch == "rnn":
            recurrent_kwargs["nonlinearity"] = "tanh"
        self.recurrent = _RECURRENT[config.arch](**recurrent_kwargs)
        if config.decoder == "full":
            self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
            if config.tie_weights:
                self.decoder.weight = self.embedding.weight  # Press & Wolf 2017
        else:
            self.decoder = nn.AdaptiveLogSoftmaxWithLoss(
                config.hidden_size,
                config.vocab_size,
                cutoffs=list(config.adaptive_cutoffs),
                div_value=config.adaptive_div_value,
            )
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        if self.config.decoder == "full":
            nn.init.zeros_(self.decoder.bias)
            if not self.config.tie_weights:
                nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        if self.config.arch == "lstm":
            # A forget-gate bias of 1 lets the cell keep its contents early in
            # training (Jozefowicz et al. 2015). PyTorch splits gates as i, f, g, o.
            hidden = self.config.hidden_size
            for name, parameter in self.recurrent.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        parameter[hidden : 2 * hidden].fill_(1.0)

    # ------------------------------------------------------------------ core
    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """Zeros: [num_layers, B, H], a pair of them for the LSTM."""
        weight = self.embedding.weight
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        zeros = torch.zeros(shape, dtype=weight.dtype, device=device or weight.device)
        if self.config.arch == "lstm":
            return zeros, zeros.clone()
        return zeros

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B, T] -> embeddings [B, T, E]."""
        return self.embedding(ids)

    def features_from_embeddings(
        self, embeddings: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """embeddings [B, T, E] -> top-layer outputs [B, T, H] (after dropout) and state."""
        outputs, state = self.recurrent(self.dropout(embeddings), state)  # [B, T, H]
        return self.dropout(outputs), state

    def features(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """ids [B, T] -> top-layer outputs [B, T, H] and state."""
        return self.features_from_embeddings(self.embed(ids), state)

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        """features [..., H] -> logits [..., V] (log-probabilities for the adaptive decoder)."""
        if self.config.decoder == "full":
            return self.decoder(features)
        flat = features.reshape(-1, features.size(-1))  # [N, H]
        return self.decoder.log_prob(flat).view(*features.shape[:-1], self.config.vocab_size)

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """ids [B, T] -> (logits [B, T, V], state)."""
        features, state = self.features(ids, state)
        return self.logits_from_features(features), state

    def loss(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy in nats of targets [B, T] given features [B, T, H]."""
        flat_features = features.reshape(-1, features.size(-1))  # [B*T, H]
        flat_targets = targets.reshape(-1)  # [B*T]
        if self.config.decoder == "full":
            return nn.functional.cross_entropy(self.decoder(flat_features), flat_targets)
        return self.decoder(flat_features, flat_targets).loss

    def num_parameters(self) -> int:
        """Distinct parameters (a tied matrix counts once)."""
        return sum(p.numel() for p in self.parameters())


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (cpu for a model without parameters): the one way to ask."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def require_eval_mode(model: nn.Module, consequence: str) -> None:
    """Raise ValueError when ``model`` is in training mode; ``consequence`` says what dropout would spoil."""
    if model.training:
        raise ValueError(
            f"The model is in training mode (dropout on), so {consequence}. Load it with load_checkpoint, "
            "which returns it in eval mode, or call model.eval() first."
        )


def last_position_log_probs(model: "LanguageModel", ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of the next token after each row's last real token, rows padded on the right.

    A left-to-right recurrent model's output at index length - 1 never sees the padding after
    it, so each row is exact; one forward pass reads the batch up to its longest row.

    Args:
        model: a language model in eval mode.
        ids: [B, T] token ids, row r real up to lengths[r]; lengths: [B], each in [1, T].

    Returns:
        [B, V] float32 log-probabilities on the model's device.
    """
    device = model_device(model)
    lengths = lengths.to(device)
    features, _ = model.features(ids[:, : int(lengths.max())].to(device))  # [B, W, H]
    last = features[torch.arange(ids.size(0), device=device), lengths - 1]  # [B, H]
    return torch.log_softmax(model.logits_from_features(last).float(), dim=-1)  # [B, V]


def detach_state(state: State) -> State:
    """Cut the graph between TBPTT windows, keeping the values."""
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()
