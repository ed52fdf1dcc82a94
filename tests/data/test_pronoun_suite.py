"""The pronoun suite: deterministic, paired by gender, gender-neutral filler, every bucket covered."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest

from data.pronoun_suite import (
    BUCKETS,
    FORBIDDEN_FILLER_WORDS,
    MAN,
    SLOTS,
    SUITE_GROUPS,
    WOMAN,
    build_pronoun_suite,
    count_tokens,
    filler_of,
    template_words,
    unknown_template_words,
    write_tsv,
)
from data.tokenizer import WordTokenizer

PER_BUCKET = 40


@pytest.fixture(scope="module")
def suite():
    return build_pronoun_suite(seed=0, templates_per_bucket=PER_BUCKET)


@pytest.mark.slow
def test_same_seed_same_suite_other_seed_other_suite(suite):
    assert build_pronoun_suite(seed=0, templates_per_bucket=PER_BUCKET) == suite
    assert build_pronoun_suite(seed=1, templates_per_bucket=PER_BUCKET) != suite


def test_columns_and_word_choices(suite):
    for row in suite:
        assert set(row) == {"group", "prefix", "good", "bad", "template", "gender", "distance"}
        expected = ("his", "her") if row["gender"] == "man" else ("her", "his")
        assert (row["good"], row["bad"]) == expected
        title = MAN["title"] if row["gender"] == "man" else WOMAN["title"]
        names = MAN["names"] if row["gender"] == "man" else WOMAN["names"]
        assert row["prefix"].split()[0] == title and row["prefix"].split()[1].strip(",") in names


def test_every_template_once_per_gender_with_the_same_filler(suite):
    by_template = defaultdict(list)
    for row in suite:
        by_template[row["template"]].append(row)
    assert len(by_template) == PER_BUCKET * len(BUCKETS)
    for rows in by_template.values():
        assert sorted(row["gender"] for row in rows) == ["man", "woman"]
        man, woman = rows
        assert filler_of(man) == filler_of(woman)
        assert man["distance"] == woman["distance"] and man["group"] == woman["group"]
    fillers = Counter(filler_of(row) for row in suite)
    assert set(fillers.values()) == {2}  # no two templates share a filler


def test_filler_is_gender_neutral(suite):
    names = {name.lower() for name in MAN["names"] + WOMAN["names"]}
    for row in suite:
        words = {word.lower() for word in re.findall(r"\w+", filler_of(row))}
        assert not words & FORBIDDEN_FILLER_WORDS, row["prefix"]
        assert not words & names, row["prefix"]
    # The check has teeth: the forbidden list holds the pronouns and gendered nouns.
    assert {
        "he",
        "she",
        "his",
        "her",
        "him",
        "himself",
        "herself",
        "man",
        "woman",
        "lady",
        "gentleman",
        "sir",
        "madam",
    } <= FORBIDDEN_FILLER_WORDS


def test_prefix_ends_with_a_slot_verb(suite):
    for row in suite:
        assert any(row["prefix"].endswith(" " + slot) for slot in SLOTS), row["prefix"]


def test_buckets_are_covered_and_distances_are_token_counts(suite):
    tokenizer = WordTokenizer.train([row["prefix"] for row in suite], min_frequency=1)
    assert list(dict.fromkeys(row["group"] for row in suite)) == list(SUITE_GROUPS)
    for bucket in BUCKETS:
        rows = [row for row in suite if row["group"] == bucket.group]
        assert len(rows) == 2 * PER_BUCKET
        distances = [row["distance"] for row in rows]
        assert all(bucket.low <= distance < bucket.high for distance in distances)
        # Spread over the bucket, not piled up at its short end.
        assert max(distances) - min(distances) >= (min(bucket.high, 70) - bucket.low) // 2
    for row in suite:
        tokens = tokenizer.encode(row["prefix"]).tokens
        assert tokens[:2] in (["Mr", "."], ["Mrs", "."])
        assert len(tokens) - 3 == row["distance"] == count_tokens(filler_of(row))


def test_default_suite_has_at_least_forty_templates_per_bucket():
    rows = build_pronoun_suite()
    assert all(count >= 80 for count in Counter(row["group"] for row in rows).values())


def test_bad_template_count_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        build_pronoun_suite(templates_per_bucket=0)


def test_unknown_template_words_uses_the_tokenizer():
    tokenizer = WordTokenizer.train(["Mr. John shook his head , and Mrs. Mary held out her hand ."], min_frequency=1)
    unknown = unknown_template_words(tokenizer)
    assert "Mrs" not in unknown and "John" not in unknown and "shook" not in unknown and "held" not in unknown
    assert {"Thomas", "Harriet", "rain", "clock"} <= set(unknown)
    assert set(unknown) | {"Mr", ".", "Mrs", "John", "Mary", "shook", "his", "her", "held", "out", ",", "and"} == set(
        template_words()
    )


def test_write_tsv_header_and_rows(suite, tmp_path):
    path = tmp_path / "suite.tsv"
    write_tsv(suite[:4], path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == ["group", "prefix", "good", "bad", "template", "gender", "distance"]
    assert lines[1].split("\t")[1] == suite[0]["prefix"] and len(lines) == 5
    with pytest.raises(ValueError, match="tab"):
        write_tsv([dict(suite[0], prefix="a\tb")], path)
    with pytest.raises(ValueError, match="No rows"):
        write_tsv([], path)
