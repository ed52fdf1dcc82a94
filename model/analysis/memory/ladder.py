"""The distance ladder: push the word that decides a prediction further and further away.

The seed sentence "Mr. Robert is going on a vacation with his wife to Hawaii
next month." fixes "his" through "Robert". Each rung inserts one more
gender-neutral filler clause right after the source word (after "Robert",
opened by a comma: "Mr. Robert, after a long and tiring week at the office,
is going on a vacation with his ..."), so only the distance changes. For every
rung and model we read, at the prediction made right before the target word:

* P(good): the probability of "his";
* the contrast log P(good) - log P(bad) ("his" vs "her"), > 0 = prefers "his";
* the influence of the source word: ||d contrast / d e_source||_2 (Madsen 2019);
* optionally occlusion: contrast(text) - contrast(source replaced by ``<unk>``
  or a chosen word such as "Mary").

Distance = tokens strictly between the source and the target word. All rungs
run as one padded batch: one forward and one backward for the whole ladder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.nn import functional

from data.echo import shown
from data.tokenizer import WordTokenizer
from model.analysis.memory.span import MemorySpan, memory_span
from model.analysis.recurrence.differentiable import differentiable_recurrence
from model.analysis.targets import word_id
from model.core.language_model import LanguageModel, model_device

DEFAULT_SENTENCE = "Mr. Robert is going on a vacation with his wife to Hawaii next month."
# Natural clauses with no gendered word (no he/she/his/her/him, no man/woman, no titles).
DEFAULT_FILLERS = (
    "after a long and tiring week at the office,",
    "as the rain kept falling on the old town,",
    "despite the noise from the busy street below,",
    "now that the children had gone to bed at last,",
    "with a cup of coffee in one hand,",
    "as everyone in the village had expected,",
    "once the letters from the bank had been answered,",
    "though the weather had been cold for many days,",
    "when the last train of the evening had left,",
    "after the dinner with the neighbours was over,",
    "since the garden needed no more work that year,",
    "while the clock in the hall struck nine,",
)


@dataclass(frozen=True)
class LadderSpec:
    """What the ladder measures.

    Attributes:
        sentence: the seed sentence.
        source_word: the word that decides the prediction ("Robert").
        target_word: the predicted word ("his"); the first occurrence after the source.
        contrast_word: the alternative ("her").
        fillers: neutral clauses, each ending with a comma, inserted in order (rung n holds the first n).
        rungs: rungs 0..rungs-1 (at most len(fillers) + 1).
        insert_after: word index after which fillers go (default: the source word).
        replacement_word: occlusion replacement for the source (None: ``<unk>``).
        target_position: word index (in the seed sentence) of the word whose
            prediction is read; default: the first ``target_word`` after the source.
    """

    sentence: str = DEFAULT_SENTENCE
    source_word: str = "Robert"
    target_word: str = "his"
    contrast_word: str = "her"
    fillers: tuple[str, ...] = DEFAULT_FILLERS
    rungs: int = 10
    insert_after: int | None = None
    replacement_word: str | None = None
    target_position: int | None = None


@dataclass(frozen=True)
class Rung:
    """One sentence of the ladder: ids [L] (no ``<eos>``), where the source is, where the target is."""

    fillers: int
    text: str
    ids: list[int]
    source_index: int
    target_index: int

    @property
    def distance(self) -> int:
        """Tokens strictly between the source word and the target word."""
        return self.target_index - self.source_index - 1


def build_ladder(tokenizer: WordTokenizer, spec: LadderSpec = LadderSpec()) -> list[Rung]:
    """The ladder's sentences.

    Args:
        tokenizer: the checkpoint's tokenizer.
        spec: sentence, words and fillers.

    Returns:
        ``spec.rungs`` rungs with increasing distances.

    Raises:
        ValueError: the source or target word is missing, a bad target_position
            or insert_after, fillers contain the source/target/contrast word,
            or more rungs than fillers + 1.

    Example:
        >>> [rung.distance for rung in build_ladder(tokenizer)][:3]
        [6, 17, 27]
    """
    if not 1 <= spec.rungs <= len(spec.fillers) + 1:
        raise ValueError(
            f"rungs must be in [1, {len(spec.fillers) + 1}] for {len(spec.fillers)} fillers; got {spec.rungs}. Pass more fillers or fewer rungs."
        )
    encoded = tokenizer.encode(spec.sentence)
    if spec.source_word not in encoded.tokens:
        raise ValueError(
            f"The source word {shown(spec.source_word)} is not a token of the sentence {shown(spec.sentence)}; tokens are {shown(encoded.tokens)}."
        )
    source = encoded.tokens.index(spec.source_word)
    if spec.target_position is None:
        after = [i for i, token in enumerate(encoded.tokens) if token == spec.target_word and i > source]
        if not after:
            raise ValueError(
                f"The target word {shown(spec.target_word)} must follow the source {shown(spec.source_word)} in {shown(spec.sentence)}."
            )
        target = after[0]
    elif source < spec.target_position < len(encoded.tokens):
        target = spec.target_position
    else:
        raise ValueError(
            f"target_position must be a word index in [{source + 1}, {len(encoded.tokens) - 1}] (after the source); got {spec.target_position}."
        )
    insert_after = source if spec.insert_after is None else spec.insert_after
    if target == source + 1 and spec.insert_after is None:
        raise ValueError(
            f"The source word {shown(spec.source_word)} is right before the target {shown(spec.target_word)}: there is no room between the words to insert clauses. Use a sentence with at least one word between them."
        )
    if not source <= insert_after < target - 1:
        raise ValueError(
            f"insert_after must be a word index in [{source}, {target - 2}] (between source and target); got {insert_after}."
        )
    forbidden = {spec.source_word, spec.target_word, spec.contrast_word}
    for filler in spec.fillers:
        clash = forbidden.intersection(tokenizer.encode(filler).tokens)
        if not filler.strip() or clash:
            raise ValueError(
                f"Filler {shown(filler)} must be non-empty and must not contain {sorted(clash) or 'nothing'}: the distance would be ambiguous."
            )
    cut = encoded.offsets[insert_after][1]
    rungs = []
    for count in range(spec.rungs):
        inserted = "" if count == 0 else ", " + " ".join(f.strip() for f in spec.fillers[:count])
        text = spec.sentence[:cut] + inserted + spec.sentence[cut:]
        tokens = tokenizer.encode(text)
        inserted_tokens = len(tokens) - len(encoded)  # everything inserted lies between source and target
        rungs.append(
            Rung(fillers=count, text=text, ids=tokens.ids, source_index=source, target_index=target + inserted_tokens)
        )
    return rungs


@dataclass
class LadderResult:
    """One model's ladder: aligned lists, one entry per rung, plus the memory spans."""

    spec: LadderSpec
    rungs: list[Rung]
    p_good: list[float]
    p_bad: list[float]
    contrast: list[float]
    influence: list[float]
    occlusion: list[float] | None
    span: MemorySpan
    influence_span: MemorySpan
    extra: dict = field(default_factory=dict)

    @property
    def distances(self) -> list[int]:
        return [rung.distance for rung in self.rungs]

    def to_json(self) -> dict:
        """Plain JSON: words, definitions, per-rung rows and the two spans."""
        rows = []
        for index, rung in enumerate(self.rungs):
            rows.append(
                {
                    "fillers": rung.fillers,
                    "text": rung.text,
                    "distance": rung.distance,
                    "p_good": self.p_good[index],
                    "p_bad": self.p_bad[index],
                    "contrast": self.contrast[index],
                    "influence": self.influence[index],
                    "occlusion": None if self.occlusion is None else self.occlusion[index],
                }
            )
        return {
            "sentence": self.spec.sentence,
            "source_word": self.spec.source_word,
            "target_word": self.spec.target_word,
            "contrast_word": self.spec.contrast_word,
            "replacement_word": self.spec.replacement_word or "<unk>",
            "distance_definition": "tokens strictly between the source word and the predicted word",
            "contrast_definition": f"log P({self.spec.target_word!r}) - log P({self.spec.contrast_word!r}) in nats, before the target word",
            "influence_definition": f"||d contrast / d e({self.spec.source_word!r})||_2 (Madsen 2019)",
            "occlusion_definition": f"contrast(text) - contrast(text with {self.spec.source_word!r} replaced)",
            "distances": self.distances,
            "p_good": self.p_good,
            "p_bad": self.p_bad,
            "contrast": self.contrast,
            "influence": self.influence,
            "occlusion": self.occlusion,
            "rungs": rows,
            "memory_span": self.span.to_json(),
            "influence_span": self.influence_span.to_json(),
        }


def run_ladder(
    model: LanguageModel, tokenizer: WordTokenizer, spec: LadderSpec = LadderSpec(), occlusion: bool = True
) -> LadderResult:
    """Measure one model on every rung: one padded forward + one backward for all rungs.

    Args:
        model: the language model (eval mode, left untouched; no ``.grad`` written).
        tokenizer: its tokenizer.
        spec: the ladder.
        occlusion: also re-run every rung with the source word replaced.

    Returns:
        A :class:`LadderResult`.

    Raises:
        ValueError: unknown target/contrast/replacement words, or a bad spec.

    Example:
        >>> result = run_ladder(model, tokenizer)
        >>> result.span.display, result.span.definition
    """
    good, bad = word_id(tokenizer, spec.target_word, "target"), word_id(tokenizer, spec.contrast_word, "contrast")
    replacement = (
        tokenizer.unk_id if spec.replacement_word is None else word_id(tokenizer, spec.replacement_word, "replacement")
    )
    rungs = build_ladder(tokenizer, spec)
    count, width = len(rungs), max(rung.target_index for rung in rungs) + 1
    # Right padding is harmless: position t only reads inputs 0..t.
    ids = torch.full(
        (count, width), tokenizer.eos_id, dtype=torch.long
    )  # [R, W]: <eos> + words up to the target's left neighbour
    for row, rung in enumerate(rungs):
        ids[row, 1 : rung.target_index + 1] = torch.tensor(rung.ids[: rung.target_index])
    device = model_device(model)
    ids = ids.to(device)
    rows = torch.arange(count, device=device)
    read_at = torch.tensor(
        [rung.target_index for rung in rungs], device=device
    )  # feature index of the prediction of the target
    source_at = torch.tensor([rung.source_index + 1 for rung in rungs], device=device)  # input index of the source word

    def contrast_of(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs = functional.log_softmax(model.logits_from_features(features[rows, read_at]), dim=-1)  # [R, V]
        return log_probs[:, good], log_probs[:, bad]

    with differentiable_recurrence(batched=False), torch.enable_grad():
        embeddings = model.embed(ids).detach().requires_grad_(True)  # [R, W, E]
        features, _ = model.features_from_embeddings(embeddings)  # [R, W, H]
        log_good, log_bad = contrast_of(features)  # [R], [R]
        contrast = log_good - log_bad  # [R]
        # Rungs are independent rows, so the gradient of the sum splits into one gradient per rung.
        (gradient,) = torch.autograd.grad(contrast.sum(), embeddings)  # [R, W, E]
    influence = gradient[rows, source_at].norm(dim=-1)  # [R]
    occluded = None
    if occlusion:
        variant = ids.clone()
        variant[rows, source_at] = replacement
        with torch.no_grad():
            variant_good, variant_bad = contrast_of(model.features(variant)[0])
        occluded = (contrast.detach() - (variant_good - variant_bad)).tolist()
    distances = [rung.distance for rung in rungs]
    contrast_list = contrast.detach().tolist()
    names = {"source": repr(spec.source_word), "target": repr(spec.target_word)}
    span = memory_span(
        distances,
        contrast_list,
        quantity="contrast",
        described_as=f"the contrast log P({spec.target_word!r}) - log P({spec.contrast_word!r})",
        **names,
    )
    influence_span = memory_span(
        distances,
        influence.tolist(),
        quantity="influence",
        described_as=f"the gradient norm of that contrast w.r.t. {spec.source_word!r}",
        **names,
    )
    return LadderResult(
        spec=spec,
        rungs=rungs,
        p_good=log_good.detach().exp().tolist(),
        p_bad=log_bad.detach().exp().tolist(),
        contrast=contrast_list,
        influence=influence.tolist(),
        occlusion=occluded,
        span=span,
        influence_span=influence_span,
    )
