"""Run the built-in minimal-pair suites on a model: agreement, relative clauses, pronouns.

    run_suite(model, tokenizer, "agreement")  ->  {"agreement": score_pairs result}
    run_suite(model, tokenizer, "all")        ->  {"agreement": ..., "relative_clause": ..., "pronoun": ...}

Each result is model.evaluation.pairs.score_pairs's dict ({"overall", "groups", "unknown_words"},
plus "swap" for the pronoun suite) with two more keys: "unknown_template_words" (suite
words the tokenizer does not know; rows that would need them were left out) and "seed".
"""

from __future__ import annotations

from typing import Any

from data.agreement_suites import DEFAULT_TEMPLATES_PER_GROUP, build_suite
from data.agreement_suites import SUITE_NAMES as AGREEMENT_SUITES
from data.pronoun_suite import DEFAULT_TEMPLATES_PER_BUCKET, build_pronoun_suite, unknown_template_words
from data.tokenizer import WordTokenizer
from model.core.language_model import LanguageModel
from model.evaluation.pairs import rows_from_dicts, score_pairs

SUITE_NAMES = (*AGREEMENT_SUITES, "pronoun")


def _pronoun_suite(
    model: LanguageModel, tokenizer: WordTokenizer, seed: int, templates_per_group: int | None
) -> dict[str, Any]:
    rows = rows_from_dicts(
        build_pronoun_suite(seed=seed, templates_per_bucket=templates_per_group or DEFAULT_TEMPLATES_PER_BUCKET)
    )
    result = score_pairs(model, tokenizer, rows)
    result["unknown_template_words"] = unknown_template_words(tokenizer)
    return result


def run_suite(
    model: LanguageModel,
    tokenizer: WordTokenizer,
    name: str,
    seed: int = 0,
    templates_per_group: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Build suite ``name`` (or every suite, for "all") from the words ``tokenizer`` knows and score it.

    Args:
        model: a language model in eval mode (e.g. from model.core.checkpoint.load_checkpoint).
        tokenizer: its tokenizer.
        name: "agreement", "relative_clause", "pronoun" or "all".
        seed: seeds the suites' templates.
        templates_per_group: templates per group (pronoun: per distance bucket); None
            for each suite's default.

    Returns:
        suite name -> score_pairs result plus "unknown_template_words" and "seed".

    Raises:
        ValueError: an unknown suite name, or a model in training mode.
    """
    if name not in (*SUITE_NAMES, "all"):
        raise ValueError(f"Suite must be one of {', '.join(SUITE_NAMES)} or all; got {name!r}.")
    names = SUITE_NAMES if name == "all" else (name,)
    results: dict[str, dict[str, Any]] = {}
    for suite in names:
        if suite == "pronoun":
            result = _pronoun_suite(model, tokenizer, seed, templates_per_group)
        else:
            build = build_suite(suite, tokenizer, seed, templates_per_group or DEFAULT_TEMPLATES_PER_GROUP)
            result = score_pairs(model, tokenizer, rows_from_dicts(build.rows))
            result["unknown_template_words"] = build.unknown_words
        result["seed"] = seed
        results[suite] = result
    return results
