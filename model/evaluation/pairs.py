"""Minimal pairs: does the model prefer the good word to the bad one after a prefix?

A pair is a prefix and two candidate next words, e.g.

    prefix "Mr. John came in and shook"   good "his"   bad "her"

The model reads ``[<eos>] + prefix ids`` (a paragraph starts, as in training)
and the pair is right when log P(good | prefix) > log P(bad | prefix). Rows
come from a TSV file (columns group, prefix, good, bad, plus any extra columns
such as template, gender, distance) or from a generator such as
data/pronoun_suite.py.

A candidate word the vocabulary does not know, or one that is more than one
token, is never mapped to ``<unk>``: its row is reported and left out.
"""

from __future__ import annotations

import csv
import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

import torch

from data.tokenizer import WordTokenizer
from model.core.generation import next_word_log_probs
from model.core.language_model import LanguageModel

REQUIRED_COLUMNS = ("group", "prefix", "good", "bad")
MAN_GENDERS = frozenset({"man", "male", "m"})
WOMAN_GENDERS = frozenset({"woman", "female", "f"})
_CHUNK_ROWS = 128  # prefixes scored per forward pass: bounds the [N, V] log-prob matrix


@dataclass(frozen=True)
class PairRow:
    """One minimal pair.

    Attributes:
        group: the report bucket the row counts towards.
        prefix: the text read before the candidate word (may be empty).
        good: the word the model should prefer.
        bad: the word it should not.
        extra: any other columns (template, gender, distance...), as strings.
        line: 1-based line number in the source file (0 when built in memory).
    """

    group: str
    prefix: str
    good: str
    bad: str
    extra: dict[str, str] = field(default_factory=dict)
    line: int = 0


def rows_from_dicts(records: Iterable[dict[str, Any]]) -> list[PairRow]:
    """Turn dicts with group, prefix, good, bad (and extra keys) into :class:`PairRow` s.

    Args:
        records: e.g. the rows of data.pronoun_suite.build_pronoun_suite.

    Returns:
        One PairRow per record; extra keys are kept as strings.

    Raises:
        ValueError: naming the record that lacks a required key or has an empty word.
    """
    rows = []
    for index, record in enumerate(records, start=1):
        missing = [column for column in REQUIRED_COLUMNS if column not in record]
        if missing:
            raise ValueError(
                f"Pair record {index} lacks {', '.join(missing)}; every pair needs {', '.join(REQUIRED_COLUMNS)}."
            )
        extra = {str(key): str(value) for key, value in record.items() if key not in REQUIRED_COLUMNS}
        rows.append(
            _make_row(
                str(record["group"]),
                str(record["prefix"]),
                str(record["good"]),
                str(record["bad"]),
                extra,
                0,
                f"record {index}",
            )
        )
    return rows


def _make_row(group: str, prefix: str, good: str, bad: str, extra: dict[str, str], line: int, where: str) -> PairRow:
    for name, value in (("group", group), ("good", good), ("bad", bad)):
        if not value.strip():
            raise ValueError(f"{where}: the {name} column is empty; every pair needs a group and two candidate words.")
    if good.strip() == bad.strip():
        raise ValueError(
            f"{where}: good and bad are the same word ({good.strip()!r}); a minimal pair needs two different words."
        )
    return PairRow(
        group=group.strip(), prefix=prefix.strip(), good=good.strip(), bad=bad.strip(), extra=extra, line=line
    )


def read_pairs_tsv(path: str | os.PathLike) -> list[PairRow]:
    """Read a tab-separated file of minimal pairs.

    The first line is a header that must name group, prefix, good and bad (in
    any order); extra columns are kept in ``PairRow.extra``. Blank lines are skipped.

    Args:
        path: a UTF-8 TSV file.

    Returns:
        The rows, in file order.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming the line of a row with the wrong number of fields or an
            empty word, a missing column, or a file without rows.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Pairs file not found: {path}. Pass a TSV file with the header group, prefix, good, bad."
        )
    try:
        with open(path, encoding="utf-8", newline="") as stream:
            lines = list(csv.reader(stream, delimiter="\t", quoting=csv.QUOTE_NONE))
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8."
        ) from error
    if not lines or not any(cell.strip() for cell in lines[0]):
        raise ValueError(f"{path} is empty; the first line must be the header group<TAB>prefix<TAB>good<TAB>bad.")
    header = [cell.strip() for cell in lines[0]]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise ValueError(
            f"{path} line 1: the header lacks the column(s) {', '.join(missing)}; it has {header}. "
            f"The header must name {', '.join(REQUIRED_COLUMNS)}, separated by tabs."
        )
    rows = []
    for line_number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise ValueError(
                f"{path} line {line_number}: expected {len(header)} tab-separated fields like the header, got {len(cells)}. "
                "Separate the columns with single tabs."
            )
        record = dict(zip(header, cells))
        extra = {key: value.strip() for key, value in record.items() if key not in REQUIRED_COLUMNS}
        rows.append(
            _make_row(
                record["group"],
                record["prefix"],
                record["good"],
                record["bad"],
                extra,
                line_number,
                f"{path} line {line_number}",
            )
        )
    if not rows:
        raise ValueError(f"{path} has a header but no pairs; add one pair per line below it.")
    return rows


def _single_token_id(tokenizer: WordTokenizer, word: str) -> int | None:
    """The id of a word that is exactly one known token, else None."""
    encoded = tokenizer.encode(word)
    if len(encoded) != 1 or encoded.unknown[0]:
        return None
    return encoded.ids[0]


def _gender(row: PairRow) -> str:
    value = row.extra.get("gender", "").strip().lower()
    if value in MAN_GENDERS:
        return "man"
    if value in WOMAN_GENDERS:
        return "woman"
    where = f"line {row.line}" if row.line else f"template {row.extra.get('template')!r}"
    raise ValueError(f"{where}: gender must be man or woman (or male/female); got {value!r}.")


def swap_effects(rows: list[PairRow], margins: list[float]) -> dict[str, dict[str, Any]]:
    """Name-swap effect per group, from rows that carry ``template`` and ``gender``.

    For a template t with a man's row and a woman's row, orient both margins by
    the man's row: A is the man's good word (e.g. "his") and B his bad word
    ("her"); the woman's row must have good = B and bad = A. Then

        oriented(row) = log P(A | row.prefix) - log P(B | row.prefix)
        effect(t)     = oriented(man's row) - oriented(woman's row)
                      = margin(man's row) + margin(woman's row),

    with margin = log P(good) - log P(bad) as scored. For his/her this is
    [log P(his) - log P(her)] after the man's name minus the same after the
    woman's name, so a lexical prior shared by both rows ("shook her head")
    cancels. The sign is right when effect(t) > 0. A template counts in the
    man's row's group; templates missing a row (e.g. an unknown word) are skipped.

    Args:
        rows: scored rows, each with extra["template"] and extra["gender"].
        margins: margin of each row, in nats, aligned with ``rows``.

    Returns:
        group -> {"n_templates", "right_sign_rate", "mean_effect"}.

    Raises:
        ValueError: an unknown gender, two rows of one gender in a template, or
            a woman's row whose words are not the man's row's words swapped.
    """
    by_template: dict[str, dict[str, tuple[PairRow, float]]] = defaultdict(dict)
    for row, margin in zip(rows, margins):
        gender = _gender(row)
        template = row.extra["template"]
        if gender in by_template[template]:
            raise ValueError(
                f"Template {template!r} has two {gender}'s rows; each template needs exactly one row per gender."
            )
        by_template[template][gender] = (row, margin)
    effects: dict[str, list[float]] = defaultdict(list)
    for template, pair in by_template.items():
        if len(pair) != 2:
            continue
        (man, man_margin), (woman, woman_margin) = pair["man"], pair["woman"]
        if (woman.good, woman.bad) != (man.bad, man.good):
            raise ValueError(
                f"Template {template!r}: the woman's row must swap the man's words ({man.bad!r} good, {man.good!r} bad); "
                f"got good {woman.good!r}, bad {woman.bad!r}."
            )
        effects[man.group].append(man_margin + woman_margin)
    return {
        group: {
            "n_templates": len(values),
            "right_sign_rate": sum(value > 0 for value in values) / len(values),
            "mean_effect": sum(values) / len(values),
        }
        for group, values in effects.items()
    }


def score_pairs(model: LanguageModel, tokenizer: WordTokenizer, rows: list[PairRow]) -> dict[str, Any]:
    """Score minimal pairs.

    Args:
        model: a language model in eval mode.
        tokenizer: its tokenizer.
        rows: pairs from :func:`read_pairs_tsv` or :func:`rows_from_dicts`.

    Returns:
        {"overall": {"n", "accuracy"},
         "groups": {group: {"n", "accuracy", "mean_margin"}},
         "unknown_words": [words],
         "swap": {group: {"n_templates", "right_sign_rate", "mean_effect"}}  # only when rows carry template and gender}
        where n counts scored rows, accuracy is the share with margin > 0 (None
        when nothing was scored), and mean_margin is the mean of
        log P(good | prefix) - log P(bad | prefix) in nats. Rows whose good or bad
        word is unknown or more than one token are left out and the word is
        listed in unknown_words (in order of first appearance).
    """
    unknown: dict[str, None] = {}
    scored: list[tuple[PairRow, int, int]] = []
    for row in rows:
        good_id, bad_id = _single_token_id(tokenizer, row.good), _single_token_id(tokenizer, row.bad)
        for word, index in ((row.good, good_id), (row.bad, bad_id)):
            if index is None:
                unknown.setdefault(word, None)
        if good_id is not None and bad_id is not None:
            scored.append((row, good_id, bad_id))

    margins: list[float] = []
    for start in range(0, len(scored), _CHUNK_ROWS):
        chunk = scored[start : start + _CHUNK_ROWS]
        log_probs = next_word_log_probs(model, tokenizer, [row.prefix for row, _, _ in chunk])  # [N, V]
        good_ids = torch.tensor([good for _, good, _ in chunk])  # [N]
        bad_ids = torch.tensor([bad for _, _, bad in chunk])  # [N]
        rows_index = torch.arange(len(chunk))  # [N]
        margins.extend((log_probs[rows_index, good_ids] - log_probs[rows_index, bad_ids]).tolist())

    grouped: dict[str, list[float]] = defaultdict(list)
    for (row, _, _), margin in zip(scored, margins):
        grouped[row.group].append(margin)
    result: dict[str, Any] = {
        "overall": {"n": len(margins), "accuracy": _accuracy(margins)},
        "groups": {
            group: {"n": len(values), "accuracy": _accuracy(values), "mean_margin": sum(values) / len(values)}
            for group, values in grouped.items()
        },
        "unknown_words": list(unknown),
    }
    if rows and all("template" in row.extra and "gender" in row.extra for row in rows):
        result["swap"] = swap_effects([row for row, _, _ in scored], margins)
    return result


def _accuracy(margins: list[float]) -> float | None:
    if not margins:
        return None
    if not all(math.isfinite(margin) for margin in margins):
        raise ValueError(
            "A log-probability margin is not finite; the model produced NaN or inf. Check the checkpoint's weights."
        )
    return sum(margin > 0 for margin in margins) / len(margins)
