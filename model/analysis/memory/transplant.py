"""Two runs side by side and state transplants: where a model keeps that the text began with "Mr. Robert".

A factual text and a counterfactual of the same length ("Mr. Robert ..." / "Mrs. Mary ...") are run
once each and every state is recorded. A transplant at word k takes the factual run, replaces its
state after word k (all of it, or chosen units) by the counterfactual's, and reads the rest of the
factual text from there. The target is a contrast read at one output position p (the word before
the target word): f = log P(target) - log P(contrast) after word p. Its share of the swap effect,

    share = (f_transplanted - f_factual) / (f_counterfactual - f_factual),

is 1 when the transplanted units carry everything the cue changed and 0 when they carry nothing.
Positions are 0-based word indices; ``ids`` are ``[<eos>] + words`` as
:func:`model.analysis.inputs.prepare_input` builds them, so word w is ``ids[w + 1]``.

A state is held as [L, P, H]: L layers, P parts (h, then c for the LSTM), H units. A unit is one
entry of it; its flat index is (layer * P + part) * H + unit.

Every transplant of a sweep reuses the factual run: all rows, for every k, go through one
"staircase" batch (as in :mod:`model.analysis.influence.occlusion`) that reads the factual words once per
step; a row transplanted at k joins after word k with its edited state. Nothing re-runs a prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from model.analysis.influence.occlusion import _PreparedLayer, target_values_at
from model.analysis.recurrence.cells import layer_weights, model_arch
from model.analysis.recurrence.onednn import PreparedDecoder
from model.analysis.recurrence.unrolled import unrolled_forward
from model.analysis.targets import PositionTargets, selected_log_probs
from model.core.config import CELLS
from model.core.language_model import LanguageModel, model_device

PARTS = {"lstm": ("h", "c"), "gru": ("h",), "rnn": ("h",)}
# Below this swap effect (nats) a share is a ratio of rounding errors: reported as None.
MIN_EFFECT = 1e-9


@dataclass(frozen=True)
class PairRuns:
    """Both runs of a pair, recorded once.

    Attributes:
        arch: "rnn", "lstm" or "gru".
        factual_ids, counterfactual_ids: [T + 1] ids, ``<eos>`` first.
        cue: (first, last + 1) word span of the words where the two texts differ.
        target_position: p, the output position whose prediction is the target (the word before it).
        target_id, contrast_id: the target word and the contrast word.
        factual_states, counterfactual_states: [T, L, P, H] state after each word.
        gradients: [T, L, P, H] d f_p / d (factual state after word k); zero for k > p; None when not asked for.
        factual_values, counterfactual_values: [T] the contrast at every output position of each run.
        factual_records, counterfactual_records: per layer, trace name -> [T, H] (gates, cell, hidden).
    """

    arch: str
    factual_ids: torch.Tensor
    counterfactual_ids: torch.Tensor
    cue: tuple[int, int]
    target_position: int
    target_id: int
    contrast_id: int
    factual_states: torch.Tensor
    counterfactual_states: torch.Tensor
    gradients: torch.Tensor | None
    factual_values: torch.Tensor
    counterfactual_values: torch.Tensor
    factual_records: list[dict[str, torch.Tensor]] = field(repr=False)
    counterfactual_records: list[dict[str, torch.Tensor]] = field(repr=False)

    @property
    def length(self) -> int:
        """T, the number of words."""
        return int(self.factual_states.shape[0])

    @property
    def state_shape(self) -> tuple[int, int, int]:
        """(L, P, H)."""
        return tuple(self.factual_states.shape[1:])

    @property
    def parts(self) -> tuple[str, ...]:
        return PARTS[self.arch]

    @property
    def factual(self) -> float:
        """f_p on the factual text."""
        return float(self.factual_values[self.target_position])

    @property
    def counterfactual(self) -> float:
        """f_p on the counterfactual text."""
        return float(self.counterfactual_values[self.target_position])

    @property
    def effect(self) -> float:
        """f_p(counterfactual) - f_p(factual): what the swap does to the target, in nats."""
        return self.counterfactual - self.factual

    @property
    def word_after_cue(self) -> int:
        """The first word after the cue (the word before the target when the target follows the cue at once)."""
        return min(self.cue[1], self.target_position)

    def shares(self, values: torch.Tensor) -> torch.Tensor:
        """Transplanted target values [R] -> shares of the swap effect [R] (NaN when the swap moves nothing)."""
        if abs(self.effect) < MIN_EFFECT:
            return torch.full_like(values, float("nan"))
        return (values - self.factual) / self.effect


def _ids(ids: torch.Tensor, name: str, vocab_size: int) -> torch.Tensor:
    if not isinstance(ids, torch.Tensor) or ids.dtype != torch.long:
        raise ValueError(
            f"{name} must be a long tensor of ids ([<eos>] + words, see prepare_input); got {type(ids).__name__} "
            f"{getattr(ids, 'dtype', '')}."
        )
    if ids.dim() == 2 and ids.shape[0] == 1:
        ids = ids[0]
    if ids.dim() != 1 or ids.numel() < 2:
        raise ValueError(
            f"{name} must be 1-D [T + 1] ids with <eos> first and at least one word; got shape {tuple(ids.shape)}."
        )
    if int(ids.min()) < 0 or int(ids.max()) >= vocab_size:
        raise ValueError(
            f"{name} must lie in [0, {vocab_size - 1}]; got values from {int(ids.min())} to {int(ids.max())}."
        )
    return ids


def check_pair(
    factual_ids: torch.Tensor, counterfactual_ids: torch.Tensor, target_position: int, vocab_size: int
) -> tuple[int, int]:
    """Validate a pair of id sequences and return the cue: the (first, last + 1) span of differing words.

    Raises:
        ValueError: different lengths, identical texts, a difference at the ``<eos>``, a target
            position outside the text, or a target word at or before the cue's last word.
    """
    factual_ids = _ids(factual_ids, "factual_ids", vocab_size)
    counterfactual_ids = _ids(counterfactual_ids, "counterfactual_ids", vocab_size)
    if factual_ids.numel() != counterfactual_ids.numel():
        raise ValueError(
            f"The factual and counterfactual texts must have the same number of words; got {factual_ids.numel() - 1} "
            f"and {counterfactual_ids.numel() - 1}. Swap the cue for words of the same length ('Mr. Robert' -> 'Mrs. Mary')."
        )
    if factual_ids[0] != counterfactual_ids[0]:
        raise ValueError("Both id sequences must start with the same <eos> (use prepare_input for both texts).")
    differing = (factual_ids[1:] != counterfactual_ids[1:]).nonzero().flatten().tolist()
    if not differing:
        raise ValueError(
            "The counterfactual is the same text as the factual one; swap the cue (e.g. 'Mr. Robert' -> 'Mrs. Mary')."
        )
    length = factual_ids.numel() - 1
    if not isinstance(target_position, int) or not 0 <= target_position < length:
        raise ValueError(
            f"target_position must be an output position in [0, {length - 1}] (the word before the target); "
            f"got {target_position!r}."
        )
    cue = (differing[0], differing[-1] + 1)
    if target_position + 1 < cue[1]:
        raise ValueError(
            f"The target (word {target_position + 1}, predicted after word {target_position}) is at or before the cue "
            f"(words {cue[0]} to {cue[1] - 1}, where the texts differ); pick a target word after the cue."
        )
    return cue


def _state_stack(records: list[dict[str, torch.Tensor]], parts: tuple[str, ...]) -> torch.Tensor:
    """Per-layer records [1, T + 1, H] -> the state after each word [T, L, P, H]."""
    names = {"h": "hidden", "c": "cell"}
    return torch.stack([torch.stack([layer[names[part]][0, 1:] for part in parts], dim=1) for layer in records], dim=1)


def _contrast_at(model: LanguageModel, features: torch.Tensor, target_id: int, contrast_id: int) -> torch.Tensor:
    """f = log P(target) - log P(contrast) for feature rows [N, H] -> [N] (differentiable)."""
    ids = features.new_tensor([target_id, contrast_id], dtype=torch.long).expand(features.shape[0], 2)  # [N, 2]
    selected = selected_log_probs(model, features, ids)  # [N, 2]
    return selected[:, 0] - selected[:, 1]


def record_pair(
    model: LanguageModel,
    factual_ids: torch.Tensor,
    counterfactual_ids: torch.Tensor,
    target_position: int,
    target_id: int,
    contrast_id: int,
    gradients: bool = True,
) -> PairRuns:
    """Run both texts once, keeping every state, gate and target value (and the target's gradients).

    Args:
        model: a LanguageModel (read only: no train mode, nothing written to ``.grad``).
        factual_ids, counterfactual_ids: [T + 1] (or [1, T + 1]) ids, ``<eos>`` first, differing only in the cue.
        target_position: p, the output position read (the word before the target word).
        target_id, contrast_id: f = log P(target) - log P(contrast) after word p.
        gradients: also take d f_p / d state after every word (one ``torch.autograd.grad`` call).

    Returns:
        A :class:`PairRuns`.

    Example:
        >>> pair = record_pair(model, factual.ids[0], counterfactual.ids[0], 8, his_id, her_id)
        >>> pair.effect   # nats the swap moves log P(his) - log P(her) after word 8
    """
    vocab = model.config.vocab_size
    for name, value in (("target_id", target_id), ("contrast_id", contrast_id)):
        if not isinstance(value, int) or not 0 <= value < vocab:
            raise ValueError(f"{name} must be a vocabulary id in [0, {vocab - 1}]; got {value!r}.")
    cue = check_pair(factual_ids, counterfactual_ids, target_position, vocab)
    arch = model_arch(model.recurrent)
    parts = PARTS[arch]
    device = model_device(model)
    factual_ids = _ids(factual_ids, "factual_ids", vocab).to(device)
    counterfactual_ids = _ids(counterfactual_ids, "counterfactual_ids", vocab).to(device)
    step = target_position + 1  # ids step whose output predicts the target
    with torch.set_grad_enabled(gradients):
        # A leaf copy of the embeddings: the states get a graph without asking anything of the parameters.
        embeddings = model.embed(factual_ids[None]).detach().requires_grad_(gradients)  # [1, T + 1, E]
        run = unrolled_forward(model, embeddings, record=True)
        value = _contrast_at(model, run.outputs[0, step : step + 1], target_id, contrast_id)[0]
        grads = None
        if gradients:
            inputs = [
                tensors[t]
                for layer in run.layers
                for tensors in ((layer.hiddens, layer.cells) if CELLS[arch].has_cell_state else (layer.hiddens,))
                for t in range(1, step + 1)
            ]
            found = torch.autograd.grad(value, inputs, allow_unused=True)
            found = [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, found)]
            per_part = torch.stack(
                [torch.cat(found[i : i + step]) for i in range(0, len(found), step)]
            )  # [L * P, p + 1, H]
            grads = run.outputs.new_zeros(
                factual_ids.numel() - 1, *per_part.shape[:1], per_part.shape[-1]
            )  # [T, L * P, H]
            grads[:step] = per_part.transpose(0, 1).detach()
            grads = grads.view(grads.shape[0], len(run.layers), len(parts), -1)  # [T, L, P, H]
    with torch.no_grad():
        factual_records = [{name: value.detach() for name, value in layer.records.items()} for layer in run.layers]
        counter = unrolled_forward(model, model.embed(counterfactual_ids[None]), record=True)
        counterfactual_records = [dict(layer.records) for layer in counter.layers]
        factual_values = _contrast_at(model, run.outputs[0, 1:].detach(), target_id, contrast_id)  # [T]
        counterfactual_values = _contrast_at(model, counter.outputs[0, 1:], target_id, contrast_id)  # [T]
    return PairRuns(
        arch=arch,
        factual_ids=factual_ids,
        counterfactual_ids=counterfactual_ids,
        cue=cue,
        target_position=target_position,
        target_id=target_id,
        contrast_id=contrast_id,
        factual_states=_state_stack(factual_records, parts),
        counterfactual_states=_state_stack(counterfactual_records, parts),
        gradients=grads,
        factual_values=factual_values,
        counterfactual_values=counterfactual_values,
        factual_records=[{name: value[0, 1:] for name, value in layer.items()} for layer in factual_records],
        counterfactual_records=[
            {name: value[0, 1:] for name, value in layer.items()} for layer in counterfactual_records
        ],
    )


def continue_runs(
    model: LanguageModel,
    ids: torch.Tensor,
    ks: torch.Tensor,
    start_states: torch.Tensor,
    target_position: int,
    target_id: int,
    contrast_id: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row r starts from ``start_states[r]`` as the state after word ``ks[r]`` and reads words ks[r] + 1 .. p of ``ids``.

    All rows run as one staircase batch: a row joins when the run reaches its word, so each step
    reads the text's word once for every row alive at it, and no prefix is ever re-run.

    Args:
        model: the language model (read only).
        ids: [T + 1] ids of the text the rows continue, ``<eos>`` first.
        ks: [R] long, the word after which each row starts, each in [0, p].
        start_states: [R, L, P, H] each row's state after word ks[r].
        target_position: p; target_id, contrast_id: the contrast read after word p.

    Returns:
        (values [R]: f_p of each row, states [R, L, P, H]: each row's state after word p).
    """
    arch = model_arch(model.recurrent)
    if ks.dim() != 1 or start_states.dim() != 4 or start_states.shape[0] != ks.numel():
        raise ValueError(
            f"ks must be [R] and start_states [R, L, P, H]; got {tuple(ks.shape)} and {tuple(start_states.shape)}."
        )
    if ks.numel() and (int(ks.min()) < 0 or int(ks.max()) > target_position):
        raise ValueError(
            f"Every transplant word must lie in [0, {target_position}] (at or before the word before the target); "
            f"got {int(ks.min())} to {int(ks.max())}."
        )
    num_layers, num_parts, hidden_size = start_states.shape[1:]
    device = model_device(model)
    ids = ids.to(device)
    with torch.no_grad():
        order = torch.argsort(ks, stable=True)  # rows sorted by the word they start after
        sorted_ks = ks[order].to(device)
        starts = start_states[order].to(device)  # [R, L, P, H]
        layers = [_PreparedLayer(arch, layer_weights(model.recurrent, k)) for k in range(num_layers)]
        empty = starts.new_zeros(0, hidden_size)
        hiddens = [empty] * num_layers
        cells = [empty if CELLS[arch].has_cell_state else None for _ in range(num_layers)]
        joined = 0
        first = int(sorted_ks[0]) if ks.numel() else target_position
        projected = layers[0].input(
            model.embed(ids[first + 2 : target_position + 2])
        )  # [p - first, G*H], words first+1..p

        def join(upto: int) -> None:
            nonlocal joined
            count = int(torch.searchsorted(sorted_ks, torch.tensor(upto, device=device), right=True)) - joined
            if count:
                new = starts[joined : joined + count]  # [n, L, P, H]
                for k in range(num_layers):
                    hiddens[k] = torch.cat([hiddens[k], new[:, k, 0]])
                    if CELLS[arch].has_cell_state:
                        cells[k] = torch.cat([cells[k], new[:, k, 1]])
                joined += count

        for word in range(first + 1, target_position + 1):
            join(word - 1)  # rows transplanted after word - 1 read this word first
            rows = hiddens[0].shape[0]
            layer_input = projected[word - first - 1].expand(rows, -1)  # [R, G*H]
            for k, layer in enumerate(layers):
                if k > 0:
                    layer_input = layer.input(hiddens[k - 1])  # [R, G*H] from the layer below, this word
                hiddens[k], cells[k] = layer.step(layer_input, hiddens[k], cells[k])
        join(target_position)
        targets = PositionTargets(
            good=sorted_ks.new_full((target_position + 1,), target_id),
            bad=sorted_ks.new_full((target_position + 1,), contrast_id),
            last_is_guess=False,
            description="",
        )
        positions = sorted_ks.new_full((hiddens[-1].shape[0],), target_position)
        values = target_values_at(model, hiddens[-1], targets, positions, PreparedDecoder(model.decoder))  # [R]
        parts = [torch.stack(hiddens, dim=1)] + ([torch.stack(cells, dim=1)] if CELLS[arch].has_cell_state else [])
        states = torch.stack(parts, dim=2)  # [R, L, P, H]
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=order.device)
    return values[inverse.to(device)], states[inverse.to(device)]


def transplant(
    model: LanguageModel, pair: PairRuns, ks: torch.Tensor, masks: torch.Tensor, source: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Transplant masked units after word ks[r] into the factual run and read the target.

    Args:
        model: the model ``pair`` was recorded with.
        pair: from :func:`record_pair`.
        ks: [R] words after which the state is edited; a row with k > p (at or after the target word)
            keeps the factual value, since the target was read after word p.
        masks: [R, L, P, H] bool, True where the unit takes the source's value.
        source: [R, L, P, H] values to put in (default: the counterfactual's state after word ks[r]).

    Returns:
        (f_p of each row [R], each row's state after word p [R, L, P, H]; for k > p its edited state after word k).

    Example:
        >>> values, _ = transplant(model, pair, torch.tensor([3]), torch.ones(1, *pair.state_shape, dtype=torch.bool))
        >>> pair.shares(values)   # tensor([1.]): the whole state after word 3 carries the whole swap
    """
    ks = ks.to(torch.long).cpu()
    if masks.shape != (ks.numel(), *pair.state_shape):
        raise ValueError(
            f"masks must be [R, L, P, H] = [{ks.numel()}, {', '.join(map(str, pair.state_shape))}]; got {tuple(masks.shape)}."
        )
    if ks.numel() and (int(ks.min()) < 0 or int(ks.max()) >= pair.length):
        raise ValueError(
            f"Transplant words must lie in [0, {pair.length - 1}]; got {int(ks.min())} to {int(ks.max())}."
        )
    p = pair.target_position
    base = pair.factual_states[ks]  # [R, L, P, H]
    source = pair.counterfactual_states[ks] if source is None else source.to(base)
    starts = torch.where(masks.to(base.device), source, base)
    values = pair.factual_values.new_full(
        (ks.numel(),), pair.factual
    )  # an edit after word p cannot change what was read at p
    states = starts.clone()  # ... and such a row's state is its own edited state, not one after word p
    early = (ks <= p).nonzero().flatten()
    if early.numel():
        values[early], states[early] = continue_runs(
            model, pair.factual_ids, ks[early], starts[early], p, pair.target_id, pair.contrast_id
        )
    return values, states


def state_distance(pair: PairRuns, scope: torch.Tensor | None = None) -> torch.Tensor:
    """||s - s'|| / ||s|| after every word over the units in ``scope`` ([L, P, H] bool, default all): [T]."""
    scope = torch.ones(pair.state_shape, dtype=torch.bool) if scope is None else scope
    scope = scope.to(pair.factual_states.device)
    difference = (pair.factual_states - pair.counterfactual_states)[:, scope]  # [T, n]
    size = pair.factual_states[:, scope]  # [T, n]
    norm = torch.linalg.vector_norm(size.double(), dim=1)  # [T]
    return torch.linalg.vector_norm(difference.double(), dim=1) / norm.clamp_min(1e-300)


def part_distances(pair: PairRuns) -> dict[str, list[list[float]]]:
    """Per part name ("h", "c"): [T][L] relative distances ||x - x'|| / ||x|| per layer."""
    result = {}
    for p, part in enumerate(pair.parts):
        factual = pair.factual_states[:, :, p].double()  # [T, L, H]
        difference = factual - pair.counterfactual_states[:, :, p].double()
        result[part] = (
            torch.linalg.vector_norm(difference, dim=2) / torch.linalg.vector_norm(factual, dim=2).clamp_min(1e-300)
        ).tolist()
    return result
