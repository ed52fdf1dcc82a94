"""A small built-in training text, generated here, so the Train tab works with no files at all.

The text is made of patterns a recurrent model can learn in a minute and that
the other views can then probe: a title and name decide a later pronoun
("Mr. John ... his", "Mrs. Anne ... her") across a filler of varying length,
a plural or singular subject decides a later verb ("The letters ... were"), and
an opened quotation closes. It is deterministic for a given seed.
"""

from __future__ import annotations

import random

from data.corpus import Corpus

MEN = ("Robert", "John", "Thomas", "Henry", "George", "Arthur", "Walter", "Charles")
WOMEN = ("Mary", "Alice", "Emma", "Clara", "Agnes", "Edith", "Lucy", "Harriet")
PLACES = ("Hawaii", "Paris", "the coast", "the mountains", "London", "the village", "Rome")
TIMES = ("next month", "in the spring", "after the wedding", "before the winter", "on Sunday")
COMPANIONS_MAN = ("wife", "brother", "son", "old friend", "daughter")
COMPANIONS_WOMAN = ("husband", "sister", "daughter", "old friend", "son")
FILLERS = (
    "the weather was mild",
    "the roads were quiet",
    "the house stood empty",
    "a letter had come",
    "the garden was full of roses",
    "nobody said a word",
    "the clock struck nine",
    "the rain had stopped",
)
NOUNS = (("letter", "letters"), ("key", "keys"), ("book", "books"), ("horse", "horses"), ("door", "doors"))
PREDICATES = (("was", "were"), ("is", "are"), ("has been", "have been"))


def _pronoun_paragraph(rng: random.Random) -> str:
    if rng.random() < 0.5:
        title, name, pronoun, companion = "Mr.", rng.choice(MEN), "his", rng.choice(COMPANIONS_MAN)
    else:
        title, name, pronoun, companion = "Mrs.", rng.choice(WOMEN), "her", rng.choice(COMPANIONS_WOMAN)
    gap = " and ".join(rng.choice(FILLERS) for _ in range(rng.randint(0, 3)))
    # The filler carries no gendered word, so only the name can decide the pronoun.
    middle = f" , who knew that {gap} ," if gap else ""
    return f"{title} {name}{middle} is going on a trip with {pronoun} {companion} to {rng.choice(PLACES)} {rng.choice(TIMES)} ."


def _agreement_paragraph(rng: random.Random) -> str:
    singular, plural = rng.choice(NOUNS)
    many = rng.random() < 0.5
    noun = plural if many else singular
    verb = rng.choice(PREDICATES)[1 if many else 0]
    owner = rng.choice(MEN + WOMEN)
    return f"The {noun} that {owner} had found near {rng.choice(PLACES)} {verb} very old ."


def _quotation_paragraph(rng: random.Random) -> str:
    speaker = rng.choice(MEN + WOMEN)
    words = rng.choice(FILLERS)
    return f'{speaker} looked up and said , " I think {words} . " Then {speaker} left .'


def builtin_paragraphs(count: int, seed: int = 0) -> list[str]:
    """``count`` generated paragraphs, mixed from the three patterns."""
    if count < 1:
        raise ValueError(f"count must be at least 1; got {count}.")
    rng = random.Random(seed)
    makers = (_pronoun_paragraph, _pronoun_paragraph, _agreement_paragraph, _quotation_paragraph)
    return [rng.choice(makers)(rng) for _ in range(count)]


def builtin_corpus(train: int = 3000, valid: int = 300, test: int = 300, seed: int = 0) -> Corpus:
    """The built-in corpus: three splits generated with different seeds.

    Args:
        train, valid, test: paragraphs per split.
        seed: base seed; the splits use seed, seed + 1 and seed + 2.

    Returns:
        A :class:`data.corpus.Corpus` named "built-in patterned text".
    """
    splits = {
        "train": builtin_paragraphs(train, seed),
        "valid": builtin_paragraphs(valid, seed + 1),
        "test": builtin_paragraphs(test, seed + 2),
    }
    return Corpus(name="built-in patterned text", splits=splits, files={})
