"""The pronoun gender agreement suite: can a model carry a name's gender to "his"/"her"?

Every sentence opens with a title and a name ("Mr. John", "Mrs. Mary"), goes on
through gender-neutral filler (no pronoun, no gendered noun, no other person),
and stops right before a slot where a possessive pronoun is the natural next
word:

    Mr. John, who had not slept well that night, came down the stairs,
    while the rain beat against the windows, and at last shook ___

The good word is the pronoun that agrees with the name, the bad word the other
one. Every template appears twice, once with a man and once with a woman, with
the same filler and the same slot, so model/evaluation/pairs.py can compute the name-swap
effect, which cancels lexical priors such as "shook her head".

Distance is the number of tokens (words and punctuation marks, split exactly
as data/tokenizer.py splits them) strictly between the name and the slot.
Templates are drawn, with a seeded random generator, so that each distance
bucket (0-10, 10-25, 25-45, 45+) gets the asked number of distinct templates.

The slot verbs were chosen from counts in the novels corpus: each is often
followed by a possessive ("shook his/her head", "made up his/her mind", about
a quarter to a half of its uses), and its "his" and "her" counts are within a
factor of about 1.5 of each other (log ratios from -0.4 to +0.4, averaging
about +0.1), so no slot hands one pronoun a large lead before the name counts.
Verbs whose "her" is mostly an object ("told her", "found her") were left out.
"""

from __future__ import annotations

import csv
import os
import random
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from data.tokenizer import WordTokenizer

# The tokenizer's own pre-tokenization rule (data/tokenizer.py): a run of word
# characters, or any single other non-space character.
_TOKEN = re.compile(r"\w+|[^\w\s]")

MAN = {
    "title": "Mr.",
    "pronoun": "his",
    "names": (
        "John",
        "James",
        "William",
        "Henry",
        "Edward",
        "Thomas",
        "Charles",
        "Frank",
        "Walter",
        "Robert",
        "George",
        "Arthur",
    ),
}
WOMAN = {
    "title": "Mrs.",
    "pronoun": "her",
    "names": (
        "Mary",
        "Jane",
        "Emma",
        "Elizabeth",
        "Lucy",
        "Harriet",
        "Margaret",
        "Catherine",
        "Sarah",
        "Anne",
        "Martha",
        "Susan",
    ),
}

# Words that would give the gender away (or bring in another person with one).
FORBIDDEN_FILLER_WORDS = frozenset(
    """he she his her hers him himself herself man men woman women lady ladies gentleman gentlemen sir madam ma
    boy boys girl girls father mother son daughter brother sister husband wife uncle aunt king queen lord duke
    prince princess mistress master widow maid fellow lad lass niece nephew papa mamma mama bride groom gown
    bonnet beard mr mrs miss""".split()
)

# What the person does first (past tense, no object that belongs to anyone).
ACTIONS = (
    "sighed",
    "smiled",
    "laughed",
    "looked up",
    "sat down",
    "stood up",
    "said nothing",
    "paused",
    "listened",
    "waited",
    "hesitated",
    "rose",
    "turned round",
    "stopped short",
    "looked away",
    "came into the room",
    "sat down by the fire",
    "stood at the window",
    "walked slowly up the hill",
    "came down the stairs",
    "looked at the clock",
    "read the letter twice",
    "went out into the garden",
    "stopped at the gate",
    "waited in the hall",
    "walked up and down the room",
    "rose from the table",
    "stood still for a moment",
    "looked out of the window",
    "came slowly across the lawn",
    "looked round the room",
    "sat down at the table",
    "came in from the garden",
    "crossed the room to the window",
    "listened at the door",
)

# Relative clauses about the person, said without a pronoun.
RELATIVES = (
    "who had been out in the rain all the afternoon",
    "who had not slept well that night",
    "who had come down late to breakfast",
    "who had walked all the way from the village",
    "who had been reading in the library since dinner",
    "who had just come back from a long journey",
    "who was tired after the long drive from town",
    "who had heard the news only that morning",
    "who had been waiting for a letter all the week",
    "who had said very little at dinner",
    "who had been sitting by the window for an hour",
    "who was never fond of long visits",
    "who had been in low spirits for some days",
    "who had not expected visitors so early",
)

# Scene clauses: weather, rooms, time, things; never a person.
SCENES = (
    "while the rain beat against the windows",
    "as the clock in the hall struck four",
    "though the fire was almost out",
    "for the house was very quiet that evening",
    "until the last of the light had gone from the sky",
    "when the carriage had gone down the road",
    "where the lamps had already been lit",
    "after a long and silent dinner",
    "in the cold grey light of the morning",
    "with the letter still lying on the table",
    "because the road from the village was deep in mud",
    "as the wind rose and the rain began to fall",
    "while the tea grew cold in the cups",
    "though nobody in the house was yet awake",
    "while the bells of the old church rang for evening service",
    "when the long summer day was nearly over",
    "after the long walk across the fields",
    "as the shadows grew long upon the lawn",
    "while the snow fell softly on the garden",
    "for the night was dark and the wind was high",
    "as the first stars came out above the trees",
    "while the candles burned low on the table",
    "long after the rest of the house had gone to bed",
    "when the sun had set behind the hills",
    "for the news from town had been very bad",
    "while the music went on in the next room",
)

# How the sentence turns to the slot.
LINKS = (
    " and",
    " and then",
    ", and then",
    ", and at last",
    ", and presently",
    ", and slowly",
    ", and after a moment",
    ", and without a word",
    ", and with a sigh",
    ", and, after a long silence,",
)

# The words right before the pronoun (see the module docstring for how they were chosen).
SLOTS = (
    "shook",
    "held out",
    "went on with",
    "put out",
    "went back to",
    "put on",
    "took off",
    "lifted",
    "stretched out",
    "put away",
    "wrung",
    "waved",
    "made up",
)


@dataclass(frozen=True)
class Bucket:
    """A distance bucket: distances in [low, high) and the shapes that reach them."""

    name: str
    low: int
    high: int
    shapes: tuple[tuple[int, int], ...]  # (relative clauses, scene clauses)

    @property
    def group(self) -> str:
        return f"pronoun {self.name}"


BUCKETS = (
    Bucket("d0-10", 0, 10, ((0, 0),)),
    Bucket("d10-25", 10, 25, ((0, 1), (1, 0))),
    Bucket("d25-45", 25, 45, ((1, 1), (0, 2), (1, 2))),
    Bucket("d45+", 45, 75, ((1, 2), (2, 1), (2, 2), (1, 3), (2, 3), (0, 4))),
)
SUITE_GROUPS = tuple(bucket.group for bucket in BUCKETS)
DEFAULT_TEMPLATES_PER_BUCKET = 60
_MAX_CANDIDATES = 200_000  # fillers drawn per bucket at most, so an impossible request fails in seconds


def count_tokens(text: str) -> int:
    """Count tokens as the word tokenizer splits them (words and single punctuation marks).

    Args:
        text: any text.

    Returns:
        The number of tokens, e.g. 3 for "Mr. John".
    """
    return len(_TOKEN.findall(text))


def _filler(rng: random.Random, relatives: int, scenes: int) -> str:
    """Everything between the name and the pronoun, e.g. ", who had ..., came in, and then shook"."""
    text = ""
    if relatives:
        text += ", " + ", and ".join(rng.sample(RELATIVES, relatives)) + ","
    text += " " + rng.choice(ACTIONS)
    # Clauses that open with the same word ("while ..., while ...") read badly; skip repeats.
    openers: set[str] = set()
    for scene in rng.sample(SCENES, len(SCENES)):
        opener = scene.split()[0]
        if len(openers) < scenes and opener not in openers:
            openers.add(opener)
            text += ", " + scene
    # After a scene clause a bare " and" would make the scene's subject ("the rain") the subject of the slot verb.
    links = LINKS if scenes == 0 else tuple(link for link in LINKS if link.startswith(","))
    return text + rng.choice(links) + " " + rng.choice(SLOTS)


def _spread_fillers(rng: random.Random, bucket: Bucket, count: int) -> dict[str, int]:
    """``count`` distinct fillers whose distances cover the bucket evenly: filler -> distance.

    Random fillers pile up at the short end of a bucket, so candidates are
    grouped by distance and taken from each reachable distance in turn.
    """
    by_distance: dict[int, dict[str, None]] = {}
    for _ in range(min(max(4000, 60 * count), _MAX_CANDIDATES)):
        relatives, scenes = rng.choice(bucket.shapes)
        filler = _filler(rng, relatives, scenes)
        distance = count_tokens(filler)
        if bucket.low <= distance < bucket.high:
            by_distance.setdefault(distance, {})[filler] = None
    queues = {distance: list(found) for distance, found in sorted(by_distance.items())}
    available = sum(len(queue) for queue in queues.values())
    if available < count:
        raise ValueError(
            f"Could only make {available} distinct templates for bucket {bucket.name}; ask for at most that many per bucket."
        )
    chosen: dict[str, int] = {}
    while len(chosen) < count:
        for distance in rng.sample(sorted(queues), len(queues)):
            if queues[distance] and len(chosen) < count:
                chosen[queues[distance].pop(rng.randrange(len(queues[distance])))] = distance
    return chosen


def build_pronoun_suite(
    seed: int = 0, templates_per_bucket: int = DEFAULT_TEMPLATES_PER_BUCKET
) -> list[dict[str, Any]]:
    """Build the suite: two rows (man, woman) per template, templates_per_bucket templates per bucket.

    Args:
        seed: seeds the random choices; the same seed gives the same suite.
        templates_per_bucket: distinct templates in each distance bucket.

    Returns:
        Rows with keys group, prefix, good, bad, template, gender ("man" or
        "woman"), distance (int). The man's row comes first in each template.

    Raises:
        ValueError: templates_per_bucket < 1, or more than the pools can make distinct.
    """
    if templates_per_bucket < 1:
        raise ValueError(f"templates_per_bucket must be at least 1; got {templates_per_bucket}.")
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for bucket in BUCKETS:
        fillers = _spread_fillers(rng, bucket, templates_per_bucket)
        for index, (filler, distance) in enumerate(fillers.items()):
            template = f"{bucket.name}/{index:03d}"
            for gender, person, other in (("man", MAN, WOMAN), ("woman", WOMAN, MAN)):
                name = rng.choice(person["names"])
                rows.append(
                    {
                        "group": bucket.group,
                        "prefix": f"{person['title']} {name}{filler}",
                        "good": person["pronoun"],
                        "bad": other["pronoun"],
                        "template": template,
                        "gender": gender,
                        "distance": distance,
                    }
                )
    return rows


def filler_of(row: dict[str, Any]) -> str:
    """The part of a row's prefix after the title and the name (the same for both genders of a template).

    Args:
        row: a suite row.

    Returns:
        The filler, starting right after the name, e.g. ", who had ..., shook".

    Raises:
        ValueError: the prefix does not open with a suite title and a name.
    """
    title, _, rest = row["prefix"].partition(" ")
    match = re.match(r"\w+", rest)
    if title not in (MAN["title"], WOMAN["title"]) or match is None:
        raise ValueError(f"A suite prefix starts with a title and a name; got {row['prefix'][:40]!r}.")
    return rest[match.end() :]


def write_tsv(rows: list[dict[str, Any]], path: str | os.PathLike) -> None:
    """Write rows as a TSV with a header (group, prefix, good, bad, then the other keys).

    Args:
        rows: e.g. from :func:`build_pronoun_suite`; all rows need the same keys.
        path: the file to write (UTF-8).

    Raises:
        ValueError: no rows, rows with different keys, or a tab or newline inside a value.
    """
    if not rows:
        raise ValueError("No rows to write; build the suite first.")
    first = ("group", "prefix", "good", "bad")
    columns = [*first, *(key for key in rows[0] if key not in first)]
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, delimiter="\t", quoting=csv.QUOTE_NONE, lineterminator="\n")
        writer.writerow(columns)
        for number, row in enumerate(rows, start=1):
            if set(row) != set(columns):
                raise ValueError(f"Row {number} has the keys {sorted(row)}; every row needs {sorted(columns)}.")
            values = [str(row[column]) for column in columns]
            if any("\t" in value or "\n" in value for value in values):
                raise ValueError(f"Row {number} holds a tab or a newline, which a TSV cannot carry: {values}.")
            writer.writerow(values)


def template_words() -> list[str]:
    """Every distinct token the suite can use.

    Returns:
        Titles, names, filler, slot words and the two pronouns, as tokens, in a stable order.
    """
    texts = [
        MAN["title"],
        WOMAN["title"],
        *MAN["names"],
        *WOMAN["names"],
        *ACTIONS,
        *RELATIVES,
        *SCENES,
        *LINKS,
        *SLOTS,
        MAN["pronoun"],
        WOMAN["pronoun"],
    ]
    seen: dict[str, None] = {}
    for text in texts:
        for token in _TOKEN.findall(text):
            seen.setdefault(token, None)
    return list(seen)


def unknown_template_words(tokenizer: "WordTokenizer") -> list[str]:
    """The suite's words that ``tokenizer`` (a data.tokenizer.WordTokenizer) maps to ``<unk>``.

    Args:
        tokenizer: anything with ``token_to_id(word) -> int | None``.

    Returns:
        The unknown words, in the order of :func:`template_words`.
    """
    return [word for word in template_words() if tokenizer.token_to_id(word) is None]
