"""The lesson's steps, in order: what each is called and which function draws it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ui.lecture.lesson import Lesson
from ui.lecture.step_belt import belt
from ui.lecture.step_distance import distance
from ui.lecture.steps_cue import expectations, spans, swap
from ui.lecture.steps_gradients import exploding, vanishing


@dataclass(frozen=True)
class Step:
    """One screen of the lesson.

    Attributes:
        number: 1-based, as in the URL (?step=N).
        name: a short name for the navigation row and the sidebar.
        render: draws the step (title, sentence, at most three sentences, one figure); its second argument is
            a slot in the navigation row for the step's own picker (which model).
        walks_words: Next and Back move through the words first (the conveyor belt).
    """

    number: int
    name: str
    render: Callable[[Lesson, Any], None]
    walks_words: bool = False


STEPS = (
    Step(1, "What comes next?", expectations),
    Step(2, "Swap the cue", swap),
    Step(3, "Which words carry it", spans),
    Step(4, "Why an RNN forgets", vanishing),
    Step(5, "The conveyor belt", belt, walks_words=True),
    Step(6, "Distance", distance),
    Step(7, "Exploding gradients", exploding),
)
