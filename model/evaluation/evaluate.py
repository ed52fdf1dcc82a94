"""Perplexity of a checkpoint on a text (`python -m model.evaluate` prints it; the suites are model/evaluation/suites.py)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import torch

from data.corpus import split_paragraphs
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
