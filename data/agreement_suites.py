"""Built-in minimal-pair suites for subject-verb number agreement, generated from templates.

Two suites, rows shaped like model/evaluation/pairs.py expects (group, prefix, good, bad, plus
extra columns):

* "agreement" (Linzen et al. 2016): the verb must agree with the subject across
  prepositional phrases whose nouns may have the other number (attractors):

      The keys to the old cabinet  ->  good "are", bad "is"        1 attractor
      The key to the cabinets in the rooms  ->  good "is", bad "are"   2 attractors

  Grouped by attractor count (0, 1, 2) and distance bucket.
* "relative_clause" (Marvin & Linzen 2018): across a subject or an object relative clause:

      The man who saw the girls  ->  good "is", bad "are"          subject relative, attractor
      The men that the girl saw  ->  good "were", bad "was"        object relative, attractor

Every template gives two rows, singular and plural subject, with the same words
otherwise, so a verb's prior ("is" is more frequent than "are") cannot win both.
Distance is the number of tokens strictly between the subject noun and the verb.

Given a tokenizer, the suites are built only from words it knows: word pools are
filtered first, the words left out are reported, and any row still holding an
unknown token is dropped (:class:`SuiteBuild`).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from data.tokenizer import WordTokenizer

_TOKEN = re.compile(r"\w+|[^\w\s]")  # the word tokenizer's split rule (data/tokenizer.py)

THINGS = (
    ("key", "keys"),
    ("letter", "letters"),
    ("window", "windows"),
    ("carriage", "carriages"),
    ("book", "books"),
    ("picture", "pictures"),
    ("house", "houses"),
    ("room", "rooms"),
    ("door", "doors"),
    ("tree", "trees"),
    ("garden", "gardens"),
    ("cottage", "cottages"),
    ("cabinet", "cabinets"),
    ("horse", "horses"),
    ("road", "roads"),
    ("field", "fields"),
    ("candle", "candles"),
    ("table", "tables"),
    ("chair", "chairs"),
    ("box", "boxes"),
)
PEOPLE = (
    ("man", "men"),
    ("woman", "women"),
    ("girl", "girls"),
    ("boy", "boys"),
    ("officer", "officers"),
    ("servant", "servants"),
    ("friend", "friends"),
    ("lady", "ladies"),
    ("gentleman", "gentlemen"),
    ("child", "children"),
    ("farmer", "farmers"),
    ("clergyman", "clergymen"),
    ("sailor", "sailors"),
    ("soldier", "soldiers"),
    ("visitor", "visitors"),
    ("neighbour", "neighbours"),
)
PREPOSITIONS = ("to", "of", "near", "behind", "beside", "in", "by")
ADJECTIVES = ("old", "little", "great", "dark", "pretty", "small", "large", "new", "empty", "quiet")
VERBS = (("is", "are"), ("was", "were"), ("has", "have"))
RELATIVE_VERBS = (
    "saw",
    "met",
    "knew",
    "loved",
    "admired",
    "pitied",
    "thanked",
    "visited",
    "followed",
    "praised",
    "trusted",
    "feared",
    "watched",
    "noticed",
    "helped",
)
FUNCTION_WORDS = ("The", "the", "who", "that")
SUITE_NAMES = ("agreement", "relative_clause")
DISTANCE_BUCKETS = ((3, 4, "d3-4"), (5, 7, "d5-7"), (8, 99, "d8+"))
DEFAULT_TEMPLATES_PER_GROUP = 20


@dataclass
class SuiteBuild:
    """A built suite.

    Attributes:
        name: "agreement" or "relative_clause".
        rows: dicts with group, prefix, good, bad, template, number, attractors, distance.
        unknown_words: template words the tokenizer does not know (left out), in a stable order.
    """

    name: str
    rows: list[dict[str, Any]]
    unknown_words: list[str] = field(default_factory=list)


def count_tokens(text: str) -> int:
    """Tokens as the word tokenizer splits them, e.g. 3 for "to the cabinet"."""
    return len(_TOKEN.findall(text))


def distance_bucket(distance: int) -> str:
    """The bucket name of a subject-verb distance (tokens in between)."""
    for low, high, name in DISTANCE_BUCKETS:
        if low <= distance <= high:
            return name
    raise ValueError(f"Distance {distance} is outside the buckets {DISTANCE_BUCKETS}.")


def template_words(name: str) -> list[str]:
    """Every distinct token suite ``name`` can use, in a stable order."""
    if name not in SUITE_NAMES:
        raise ValueError(f"Suite name must be one of {SUITE_NAMES}; got {name!r}.")
    nouns = THINGS if name == "agreement" else PEOPLE
    extra = PREPOSITIONS + ADJECTIVES if name == "agreement" else RELATIVE_VERBS
    words = [*FUNCTION_WORDS, *(w for pair in nouns for w in pair), *extra, *(w for pair in VERBS for w in pair)]
    return list(dict.fromkeys(words))


def _known(tokenizer: "WordTokenizer | None", *words: str) -> bool:
    return tokenizer is None or all(tokenizer.token_to_id(word) is not None for word in words)


class _Pools:
    """Word pools cut down to what a tokenizer knows."""

    def __init__(self, name: str, tokenizer: "WordTokenizer | None") -> None:
        self.nouns = [pair for pair in (THINGS if name == "agreement" else PEOPLE) if _known(tokenizer, *pair)]
        self.verbs = [pair for pair in VERBS if _known(tokenizer, *pair)]
        self.prepositions = [word for word in PREPOSITIONS if _known(tokenizer, word)]
        self.adjectives = [word for word in ADJECTIVES if _known(tokenizer, word)]
        self.relative_verbs = [word for word in RELATIVE_VERBS if _known(tokenizer, word)]
        self.function = {word: _known(tokenizer, word) for word in FUNCTION_WORDS}


def _agreement_template(rng: random.Random, pools: _Pools, attractors: int) -> tuple[list[str], str, int] | None:
    """One template: ([prefix with a singular subject, with a plural subject], identity key, distance).

    A phrase holding an attractor takes the other number than the subject; the
    rest take the subject's number. Prepositions and adjectives are drawn once,
    so both prefixes differ only in number.
    """
    if len(pools.nouns) < 3 or not pools.prepositions or not pools.verbs:
        return None
    phrases = rng.choice([max(attractors, 1), 2])
    subject, *others = rng.sample(pools.nouns, 1 + phrases)
    holds_attractor = set(rng.sample(range(phrases), attractors))
    prepositions = [rng.choice(pools.prepositions) for _ in range(phrases)]
    adjectives = [
        rng.choice(pools.adjectives) + " " if pools.adjectives and rng.random() < 0.5 else "" for _ in range(phrases)
    ]
    prefixes = []
    for number in (0, 1):  # 0: singular subject, 1: plural subject
        tail = " ".join(
            f"{prepositions[i]} the {adjectives[i]}{others[i][number ^ (i in holds_attractor)]}" for i in range(phrases)
        )
        prefixes.append(f"The {subject[number]} {tail}")
    distance = count_tokens(prefixes[0]) - 2  # all but "The" and the subject noun
    return prefixes, f"{prefixes[0]}|{sorted(holds_attractor)}", distance


def _relative_template(
    rng: random.Random, pools: _Pools, kind: str, attractor: bool
) -> tuple[list[str], str, int] | None:
    relative = "who" if kind == "subject" else "that"
    if len(pools.nouns) < 2 or not pools.relative_verbs or not pools.verbs or not pools.function[relative]:
        return None
    subject, obj = rng.sample(pools.nouns, 2)
    verb = rng.choice(pools.relative_verbs)
    prefixes = []
    for number in (0, 1):
        other = obj[number ^ attractor]
        clause = f"who {verb} the {other}" if kind == "subject" else f"that the {other} {verb}"
        prefixes.append(f"The {subject[number]} {clause}")
    return prefixes, f"{kind}|{subject[0]}|{obj[0]}|{verb}|{attractor}", count_tokens(prefixes[0]) - 2


def build_suite(
    name: str,
    tokenizer: "WordTokenizer | None" = None,
    seed: int = 0,
    templates_per_group: int = DEFAULT_TEMPLATES_PER_GROUP,
) -> SuiteBuild:
    """Build suite ``name`` from the words ``tokenizer`` knows (all words when None).

    Args:
        name: "agreement" or "relative_clause".
        tokenizer: a data.tokenizer.WordTokenizer, or None for the full word pools.
        seed: seeds the template choices.
        templates_per_group: distinct templates per group at most (2 rows each).

    Returns:
        A :class:`SuiteBuild`; groups the known words cannot fill may hold fewer
        templates (or none).
    """
    if name not in SUITE_NAMES:
        raise ValueError(f"Suite name must be one of {SUITE_NAMES}; got {name!r}.")
    if templates_per_group < 1:
        raise ValueError(f"templates_per_group must be at least 1; got {templates_per_group}.")
    rng = random.Random(f"{name}-{seed}")
    pools = _Pools(name, tokenizer)
    if name == "agreement":
        cells = [(attractors, None) for attractors in (0, 1, 2)]
    else:
        cells = [(kind, attractor) for kind in ("subject", "object") for attractor in (False, True)]
    rows: list[dict[str, Any]] = []
    for cell in cells:
        filled: dict[str, set[str]] = {}
        for _ in range(templates_per_group * 40):  # bounded tries: small vocabularies cannot fill every group
            made = (
                _agreement_template(rng, pools, cell[0])
                if name == "agreement"
                else _relative_template(rng, pools, *cell)
            )
            if made is None:
                break
            prefixes, key, distance = made
            group = _group_name(name, cell, distance)
            seen = filled.setdefault(group, set())
            if key in seen or len(seen) >= templates_per_group:
                continue
            seen.add(key)
            verb = rng.choice(pools.verbs)
            attractors = cell[0] if name == "agreement" else int(cell[1])
            for number, prefix in enumerate(prefixes):
                rows.append(
                    {
                        "group": group,
                        "prefix": prefix,
                        "good": verb[number],
                        "bad": verb[1 - number],
                        "template": f"{group}/{len(seen):03d}",
                        "number": ("singular", "plural")[number],
                        "attractors": attractors,
                        "distance": distance,
                    }
                )
            if all(len(s) >= templates_per_group for s in filled.values()) and len(filled) >= _groups_per_cell(
                name, cell
            ):
                break
    unknown = (
        [] if tokenizer is None else [word for word in template_words(name) if tokenizer.token_to_id(word) is None]
    )
    if tokenizer is not None:
        rows = [row for row in rows if not any(tokenizer.encode(f"{row['prefix']} {row['good']} {row['bad']}").unknown)]
    return SuiteBuild(name, rows, unknown)


def _group_name(name: str, cell: tuple, distance: int) -> str:
    if name == "agreement":
        attractors = cell[0]
        return f"agreement {attractors} attractor{'s' if attractors != 1 else ''} {distance_bucket(distance)}"
    kind, attractor = cell
    return f"relative clause {kind} {'attractor' if attractor else 'no attractor'}"


def _groups_per_cell(name: str, cell: tuple) -> int:
    if name != "agreement":
        return 1
    return 2 if cell[0] == 2 else len(DISTANCE_BUCKETS)  # two attractors need two phrases: no d3-4
