"""Perplexity of a checkpoint on a text and its scores on the pronoun and agreement suites (`python -m model.evaluate` prints them)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import torch

from data.corpus import split_paragraphs
from data.pronoun_suite import DEFAULT_TEMPLATES_PER_BUCKET, build_pronoun_suite, unknown_template_words
from model.evaluation.pairs import rows_from_dicts, score_pairs
from model.evaluation.scoring import perplexity, stream_loss

if TYPE_CHECKING:  # imported late at run time so that --help stays fast
    from data.tokenizer import WordTokenizer
    from model.core.language_model import LanguageModel


def evaluate_text(
    model: "LanguageModel", tokenizer: "WordTokenizer", path: str, batch_size: int = 16, bptt: int = 128
) -> dict[str, Any]:
    """Perplexity of a text file, read like training: paragraphs, each followed by <eos>.

    Args:
        model: a language model in eval mode.
        tokenizer: its tokenizer.
        path: a UTF-8 text file.
        batch_size, bptt: how the stream is cut (see model.evaluation.scoring.stream_loss).

    Returns:
        {"file", "paragraphs", "tokens", "unknown_rate", "loss", "perplexity"}.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not UTF-8, or too little text to score.
    """

    if not os.path.isfile(path):
        raise FileNotFoundError(f"Text file not found: {path}. Pass an existing UTF-8 text file.")
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not UTF-8 text ({error.reason} at byte {error.start}); convert it first."
        ) from error
    paragraphs = split_paragraphs(text)
    if not paragraphs:
        raise ValueError(f"{path} holds no text; perplexity needs at least one word.")
    ids = torch.tensor([i for paragraph in tokenizer.iter_ids(paragraphs) for i in paragraph], dtype=torch.long)  # [N]
    if ids.numel() < 2:
        raise ValueError(
            f"{path} has only {ids.numel()} token; perplexity needs at least 2 (one word and the paragraph end)."
        )
    loss = stream_loss(model, ids, batch_size, bptt)
    unknown_rate = float((ids == tokenizer.unk_id).float().mean())
    return {
        "file": os.path.abspath(path),
        "paragraphs": len(paragraphs),
        "tokens": int(ids.numel()),
        "unknown_rate": unknown_rate,
        "loss": loss,
        "perplexity": perplexity(loss),
    }


def evaluate_suite(
    model: "LanguageModel", tokenizer: "WordTokenizer", seed: int = 0, templates_per_bucket: int | None = None
) -> dict[str, Any]:
    """Build the pronoun suite in memory and score it.

    Args:
        model: a language model in eval mode.
        tokenizer: its tokenizer.
        seed: the suite's seed.
        templates_per_bucket: templates per distance bucket (None: the suite's default).

    Returns:
        score_pairs's result plus "unknown_template_words" (suite words the
        tokenizer reads as <unk>) and "seed".
    """

    count = templates_per_bucket or DEFAULT_TEMPLATES_PER_BUCKET
    rows = rows_from_dicts(build_pronoun_suite(seed=seed, templates_per_bucket=count))
    result = score_pairs(model, tokenizer, rows)
    result["unknown_template_words"] = unknown_template_words(tokenizer)
    result["seed"] = seed
    return result
