"""The prediction table: the top words at every position and what the model gave the word that came next.

One computation for the app's Next word, Word by word and Export views (through
ui/services/analysis_cache.next_word) and for the analysis JSON (model.analysis.report).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from data.files import finite_or_none
from data.tokenizer import WordTokenizer


def prediction_table(
    log_probs: torch.Tensor, next_ids: torch.Tensor, tokenizer: WordTokenizer, top_k: int
) -> dict[str, list]:
    """Top-k words of every row, and the probability, surprise and rank of each word that came next.

    Args:
        log_probs: [R, V] log-probabilities; row r is the distribution after r reads.
        next_ids: [N] (N <= R) the word that followed each of the first N rows.
        tokenizer: turns ids into words.
        top_k: words per row (at most V).

    Returns:
        {"top": R lists of {"word", "prob"} (best first), "actual": N dicts of {"prob", "bits", "rank"}}:
        prob in [0, 1]; bits = -log2 prob (None where prob is 0); rank 1 = the model's top guess.
    """
    if next_ids.numel() > log_probs.size(0):
        raise ValueError(f"{next_ids.numel()} next words for {log_probs.size(0)} rows; each next word needs its row.")
    values, indices = log_probs.topk(max(1, min(top_k, log_probs.size(-1))), dim=-1)  # [R, k]
    top = [
        [{"word": tokenizer.id_to_token(int(i)), "prob": math.exp(float(v))} for v, i in zip(row_values, row_ids)]
        for row_values, row_ids in zip(values.tolist(), indices.tolist())
    ]
    actual: list[dict[str, Any]] = []
    for row, token_id in enumerate(next_ids.tolist()):
        log_prob = float(log_probs[row, token_id])
        rank = int((log_probs[row] > log_probs[row, token_id]).sum()) + 1
        actual.append({"prob": math.exp(log_prob), "bits": finite_or_none(-log_prob / math.log(2.0)), "rank": rank})
    return {"top": top, "actual": actual}
