"""Next-word guesses and sampled continuations of a language model, and joining word tokens back into readable text."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from model.core.language_model import last_position_log_probs, model_device, require_eval_mode

if TYPE_CHECKING:
    from data.tokenizer import WordTokenizer
    from model.core.language_model import LanguageModel


# Tokens written without a space before them, and tokens after which no space follows.
_NO_SPACE_BEFORE = frozenset(".,;:!?)]}%")


_NO_SPACE_AFTER = frozenset("([{$")


_JOINERS = frozenset("-/")  # "to-day", "and/or": no space on either side


_CONTRACTIONS = frozenset({"s", "t", "ll", "re", "ve", "d", "m", "S", "T", "LL", "RE", "VE", "D", "M"})


MAX_TOP_K = 1000


MAX_GENERATE = 10_000


def join_tokens(tokens: list[str]) -> str:
    """Join word tokens into readable text: "Mr", ".", "Robert", ",", "don", "'", "t" -> "Mr. Robert, don't".

    Args:
        tokens: tokens as the word tokenizer splits text; "<eos>" becomes a paragraph break.

    Returns:
        The text, with no space before closing punctuation, none around hyphens
        and apostrophes inside words, and double quotes alternating open/close.
    """
    pieces: list[str] = []
    glue_next = True  # no space before the first token
    quote_open = False
    for index, token in enumerate(tokens):
        if token == "<eos>":
            pieces.append("\n\n")
            glue_next = True
            continue
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        glue = glue_next or token in _NO_SPACE_BEFORE or token in _JOINERS
        glue_next = token in _NO_SPACE_AFTER or token in _JOINERS
        if token == "'" and following in _CONTRACTIONS and pieces and pieces[-1][-1:].isalnum():
            glue, glue_next = True, True  # don't, it's, I'll
        elif token == '"':
            quote_open = not quote_open
            glue = glue or not quote_open  # a closing quote hugs the word before it
            glue_next = quote_open  # an opening quote hugs the word after it
        pieces.append(token if glue else " " + token)
    return "".join(pieces)


@torch.no_grad()
def next_word_log_probs(
    model: LanguageModel, tokenizer: WordTokenizer, prefixes: list[str], batch_size: int = 64
) -> torch.Tensor:
    """Log-probabilities of the next word after each prefix.

    Each prefix is read as ``[<eos>] + ids``. Prefixes of different lengths are
    padded on the right in one batch: a left-to-right recurrent model's output
    at a position never sees the padding after it, so each row's last real
    position is exact.

    Args:
        model: a language model in eval mode (dropout off).
        tokenizer: its tokenizer.
        prefixes: texts; an empty prefix gives the paragraph-start distribution.
        batch_size: rows per forward pass.

    Returns:
        [N, V] float tensor of log-probabilities (on the CPU).

    Raises:
        ValueError: the model is in training mode, or batch_size < 1.
    """
    require_eval_mode(model, "scores would be random")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
    if not prefixes:
        return torch.empty(0, model.config.vocab_size)
    encoded = [[tokenizer.eos_id, *item.ids] for item in tokenizer.encode_batch(list(prefixes))]
    results = []
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start : start + batch_size]
        lengths = torch.tensor([len(ids) for ids in chunk])  # [B]
        ids = torch.full((len(chunk), int(lengths.max())), tokenizer.eos_id, dtype=torch.long)  # [B, T]
        for row, row_ids in enumerate(chunk):
            ids[row, : len(row_ids)] = torch.tensor(row_ids, dtype=torch.long)
        results.append(last_position_log_probs(model, ids, lengths).cpu())  # [B, V]
    return torch.cat(results)  # [N, V]


def top_k_next_words(model: "LanguageModel", tokenizer: "WordTokenizer", text: str, k: int) -> list[tuple[str, float]]:
    """The k most probable next words after ``text``, most probable first.

    Args:
        model: a language model in eval mode.
        tokenizer: its tokenizer.
        text: any text (may be empty: then the distribution at a paragraph's start).
        k: how many words; more than the vocabulary gives the whole vocabulary.

    Returns:
        [(word, probability)], sorted by probability, descending.

    Raises:
        ValueError: k < 1.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1; got {k}.")
    log_probs = next_word_log_probs(model, tokenizer, [text])[0]  # [V]
    values, indices = torch.topk(log_probs, min(k, log_probs.numel()))  # [k], [k]
    return [(tokenizer.id_to_token(int(index)), float(value.exp())) for value, index in zip(values, indices)]


@torch.no_grad()
def generate(
    model: "LanguageModel", tokenizer: "WordTokenizer", text: str, n: int, temperature: float = 1.0, seed: int = 0
) -> str:
    """Sample a continuation of ``n`` tokens after ``text``.

    Each token is drawn from softmax(logits / temperature); ``<unk>`` is never
    drawn (it is not a word anyone could read), ``<eos>`` becomes a paragraph break.

    Args:
        model: a language model in eval mode.
        tokenizer: its tokenizer.
        text: the prompt (may be empty).
        n: tokens to sample (>= 1).
        temperature: > 0; below 1 sharpens the distribution, above 1 flattens it.
        seed: seeds a private torch.Generator, so the same seed gives the same text.

    Returns:
        The continuation alone, joined with :func:`join_tokens` (no leading space).

    Raises:
        ValueError: n < 1, temperature not > 0, or the model in training mode.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1 token; got {n}.")
    if not temperature > 0 or temperature == float("inf"):
        raise ValueError(
            f"temperature must be a positive finite number; got {temperature}. Try 1.0 (plain sampling) or 0.7."
        )
    require_eval_mode(model, "sampled words would not follow the model's own probabilities")
    device = model_device(model)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    ids = torch.tensor([[tokenizer.eos_id, *tokenizer.encode(text).ids]], dtype=torch.long, device=device)  # [1, T + 1]
    features, state = model.features(ids)  # [1, T + 1, H]
    last = features[:, -1]  # [1, H]
    sampled: list[str] = []
    for _ in range(n):
        logits = model.logits_from_features(last)[0].float().cpu()  # [V]
        logits[tokenizer.unk_id] = float("-inf")
        probabilities = torch.softmax(logits / temperature, dim=-1)  # [V]
        index = int(torch.multinomial(probabilities, 1, generator=generator))
        sampled.append(tokenizer.id_to_token(index))
        features, state = model.features(torch.tensor([[index]], dtype=torch.long, device=device), state)  # [1, 1, H]
        last = features[:, -1]  # [1, H]
    return join_tokens(sampled)


def append_continuation(text: str, continuation: str) -> str:
    """The prompt followed by its continuation, with a space only where one belongs.

    Args:
        text: the prompt as typed.
        continuation: what :func:`generate` returned.

    Returns:
        The joined text.
    """
    if (
        not text
        or not continuation
        or text[-1].isspace()
        or continuation[0] in _NO_SPACE_BEFORE
        or continuation.startswith("\n")
    ):
        return text + continuation
    return text + " " + continuation
