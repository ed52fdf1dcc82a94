"""The agreement suites: well-formed minimal pairs, right distances and attractors, known words only."""

from __future__ import annotations

import re

import pytest

from data.agreement_suites import SUITE_NAMES, THINGS, build_suite, count_tokens, distance_bucket, template_words
from data.tokenizer import WordTokenizer

SINGULAR_VERBS = {"is", "was", "has"}


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_rows_are_balanced_minimal_pairs(name):
    rows = build_suite(name, seed=3).rows
    assert len(rows) >= 100
    templates: dict[str, list[dict]] = {}
    for row in rows:
        assert row["good"] != row["bad"]
        assert {row["good"], row["bad"]} in ({"is", "are"}, {"was", "were"}, {"has", "have"})
        assert (row["good"] in SINGULAR_VERBS) == (row["number"] == "singular")
        assert row["prefix"].startswith("The ")
        templates.setdefault(row["template"], []).append(row)
    for pair in templates.values():
        # One template: a singular and a plural subject, same length, same verb pair swapped.
        assert [r["number"] for r in pair] == ["singular", "plural"]
        assert (pair[0]["good"], pair[0]["bad"]) == (pair[1]["bad"], pair[1]["good"])
        assert count_tokens(pair[0]["prefix"]) == count_tokens(pair[1]["prefix"])


def test_agreement_attractors_have_the_other_number():
    singular = {one for one, _ in THINGS}
    plural = {many for _, many in THINGS}
    for row in build_suite("agreement", seed=1).rows:
        subject, *others = [word for word in re.findall(r"\w+", row["prefix"]) if word in singular | plural]
        assert (subject in plural) == (row["number"] == "plural")
        assert sum((noun in plural) != (subject in plural) for noun in others) == row["attractors"], row
        assert row["distance"] == count_tokens(row["prefix"]) - 2
        assert row["group"].endswith(distance_bucket(row["distance"]))


def test_groups_cover_attractor_counts_and_distances():
    groups = {row["group"] for row in build_suite("agreement").rows}
    assert "agreement 0 attractors d3-4" in groups and "agreement 2 attractors d8+" in groups
    assert not any(
        group.startswith("agreement 2 attractors d3-4") for group in groups
    )  # two phrases never fit in 4 tokens
    relative = {row["group"] for row in build_suite("relative_clause").rows}
    assert relative == {
        f"relative clause {kind} {a}" for kind in ("subject", "object") for a in ("attractor", "no attractor")
    }


def test_same_seed_same_suite_other_seed_other_suite():
    assert build_suite("relative_clause", seed=5).rows == build_suite("relative_clause", seed=5).rows
    assert build_suite("relative_clause", seed=5).rows != build_suite("relative_clause", seed=6).rows


def test_only_known_words_are_used_and_unknown_ones_reported():
    words = template_words("agreement")
    missing = {"cabinet", "cabinets", "were", "behind"}
    tokenizer = WordTokenizer.train([" ".join(w for w in words if w not in missing)], min_frequency=1)
    build = build_suite("agreement", tokenizer)
    assert set(build.unknown_words) == missing
    assert build.rows, "the remaining words still make rows"
    for row in build.rows:
        encoded = tokenizer.encode(f"{row['prefix']} {row['good']} {row['bad']}")
        assert not any(encoded.unknown), row
        assert "was" not in (row["good"], row["bad"])  # "were" unknown: the was/were pair is left out


def test_a_vocabulary_without_the_templates_gives_no_rows():
    tokenizer = WordTokenizer.train(["Mr. John said so his friend came to tea ."], min_frequency=1)
    build = build_suite("relative_clause", tokenizer)
    assert build.rows == []
    assert "who" in build.unknown_words and "The" in build.unknown_words


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="Suite name"):
        build_suite("pronouns")
    with pytest.raises(ValueError, match="templates_per_group"):
        build_suite("agreement", templates_per_group=0)
