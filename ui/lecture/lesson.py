"""What a lecture step needs: the lesson's state, the chosen models and the checked sentence pair."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ui.lecture.url_state import LessonState
from ui.lecture.wording import model_labels
from ui.services.model_store import ModelEntry


@dataclass(frozen=True)
class Lesson:
    """One lesson as the steps see it.

    Attributes:
        state: the URL state (after the checks).
        models: the usable models chosen, in order.
        text, counterfactual, target, contrast: the arguments every numbers.* call takes (after any
            fallback to defaults); counterfactual/target/contrast None mean "the sentence's default".
        pair: numbers.pair(...) of the first model: tokens, cue_span, parts, target_position, ...
    """

    state: LessonState
    models: tuple[ModelEntry, ...]
    text: str
    counterfactual: str | None
    target: str | None
    contrast: str | None
    pair: dict[str, Any]

    @property
    def args(self) -> tuple[str, str | None, str | None, str | None]:
        """(text, counterfactual, target, contrast) for the numbers.* calls."""
        return self.text, self.counterfactual, self.target, self.contrast

    @property
    def labels(self) -> dict[str, str]:
        """Model name -> "the LSTM" (or the folder name when two share an architecture)."""
        return model_labels([(entry.name, entry.arch) for entry in self.models])

    def first(self, arch: str) -> ModelEntry | None:
        """The first chosen model of an architecture, or None."""
        return next((entry for entry in self.models if entry.arch == arch), None)

    @property
    def tokens(self) -> list[str]:
        return list(self.pair["tokens"])

    @property
    def target_word(self) -> str:
        return self.pair["target"]

    @property
    def contrast_word(self) -> str:
        return self.pair["contrast"]

    @property
    def contrast_formula(self) -> str:
        """ "log P(his) − log P(her)" with the lesson's words."""
        return f"log P({self.target_word}) − log P({self.contrast_word})"
