"""Test data generators shared by the test files (import as `from text_fixtures import ...`).

A plain module, not conftest.py: several conftest.py files exist under tests/, and
`from conftest import` would pick whichever was imported first.
"""

from __future__ import annotations

import os
import random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MEN = ["John", "Robert", "James", "William", "Henry", "Edward"]
WOMEN = ["Mary", "Anne", "Jane", "Emma", "Alice", "Margaret"]
FILLERS = [
    "the weather was fine",
    "the road was long",
    "a bell rang somewhere",
    "the train was late",
    "the tea was cold",
]


def patterned_paragraphs(count: int, seed: int = 0) -> list[str]:
    """Strongly patterned text: a titled name fixes the pronoun that follows fillers."""
    rng = random.Random(seed)
    paragraphs = []
    for _ in range(count):
        if rng.random() < 0.5:
            title, name, pronoun = "Mr.", rng.choice(MEN), "his"
        else:
            title, name, pronoun = "Mrs.", rng.choice(WOMEN), "her"
        fillers = ", and ".join(rng.choice(FILLERS) for _ in range(rng.randint(0, 2)))
        middle = f" said that {fillers}," if fillers else " said"
        paragraphs.append(f"{title} {name}{middle} so {pronoun} friend came to tea .")
    return paragraphs


def write_corpus(folder, train: int = 400, valid: int = 60, test: int = 60, seed: int = 0) -> str:
    os.makedirs(folder, exist_ok=True)
    for split, count, offset in (("train", train, 0), ("valid", valid, 1), ("test", test, 2)):
        with open(os.path.join(folder, f"{split}.txt"), "w", encoding="utf-8") as stream:
            stream.write("\n\n".join(patterned_paragraphs(count, seed * 10 + offset)) + "\n")
    return str(folder)
