"""The lesson's state as URL parameters, checked: a teacher's prepared link opens the right step.

    ?lesson=seed&step=2&sentence=Mr.%20Robert%20...&counterfactual=...&models=novels-rnn,novels-lstm
     &target=his&contrast=her

Pure Python (no streamlit): :func:`parse_params` turns the URL's strings into a
:class:`LessonState` plus plain-language notices for everything it had to ignore, and
:meth:`LessonState.to_params` writes the state back. A bad value never stops the lesson; it is
named in a notice and replaced by its default.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from ui.settings import MAX_CHARS, SEED_SENTENCE

PARAMS = ("lesson", "step", "sentence", "counterfactual", "models", "target", "contrast")
# Lesson name -> what it is; every lesson runs the same steps, on its own default sentence.
LESSONS = {"seed": "the seed story: does the model remember that Mr. Robert is a man when it reaches “his”?"}
DEFAULT_LESSON = "seed"
STEP_COUNT = 7
MAX_WORD_CHARS = 40


@dataclass(frozen=True)
class LessonState:
    """Where the lesson is and what it is about.

    Attributes:
        lesson: a key of :data:`LESSONS`.
        step: 1 .. :data:`STEP_COUNT`.
        sentence: the factual sentence.
        counterfactual: the whole counterfactual sentence, or None for the default cue swap.
        models: the model folder names, in order (empty: the default selection).
        target, contrast: the compared words, or None for the defaults of the sentence.
    """

    lesson: str = DEFAULT_LESSON
    step: int = 1
    sentence: str = SEED_SENTENCE
    counterfactual: str | None = None
    models: tuple[str, ...] = ()
    target: str | None = None
    contrast: str | None = None

    def to_params(self) -> dict[str, str]:
        """The URL parameters of this state: lesson and step always, the rest only when not the default."""
        params = {"lesson": self.lesson, "step": str(self.step)}
        if self.sentence != SEED_SENTENCE:
            params["sentence"] = self.sentence
        for name in ("counterfactual", "target", "contrast"):
            value = getattr(self, name)
            if value:
                params[name] = value
        if self.models:
            params["models"] = ",".join(self.models)
        return params

    def with_sentence(self, sentence: str) -> "LessonState":
        """A new sentence: its own default counterfactual, target and contrast."""
        return replace(self, sentence=sentence, counterfactual=None, target=None, contrast=None)


def _single(value: str | list[str] | None) -> str | None:
    """One URL value (the last one when a parameter is repeated)."""
    if isinstance(value, (list, tuple)):
        return str(value[-1]) if value else None
    return None if value is None else str(value)


def _short(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def parse_params(
    params: Mapping[str, str | list[str]], available_models: Sequence[str]
) -> tuple[LessonState, list[str]]:
    """Read the lesson from URL parameters.

    Args:
        params: the URL's parameters (``st.query_params.to_dict()``: name -> string).
        available_models: the model folders that load; names outside it are dropped.

    Returns:
        (state, notices): the state with every bad value replaced by its default, and one sentence
        per replacement saying what was wrong and what is shown instead.

    Example:
        >>> state, notices = parse_params({"lesson": "seed", "step": "9"}, ["novels-lstm"])
        >>> state.step, notices[0]
        (1, 'The step “9” is not a step of this lesson (1 to 7); showing step 1.')
    """
    notices: list[str] = []
    state = LessonState()
    unknown = [name for name in params if name not in PARAMS]
    if unknown:
        notices.append(
            f"Ignored unknown URL parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join('“' + _short(name, 30) + '”' for name in unknown)}; the lesson reads {', '.join(PARAMS)}."
        )
    lesson = (_single(params.get("lesson")) or "").strip()
    if lesson and lesson not in LESSONS:
        notices.append(
            f"There is no lesson “{_short(lesson)}” (lessons: {', '.join(LESSONS)}); showing the {DEFAULT_LESSON} lesson."
        )
    elif lesson:
        state = replace(state, lesson=lesson)
    step = (_single(params.get("step")) or "").strip()
    if step:
        if step.isdigit() and 1 <= int(step) <= STEP_COUNT:
            state = replace(state, step=int(step))
        else:
            notices.append(
                f"The step “{_short(step)}” is not a step of this lesson (1 to {STEP_COUNT}); showing step 1."
            )
    sentence = _single(params.get("sentence"))
    if sentence is not None:
        cleaned = " ".join(sentence.split())
        if not cleaned:
            notices.append("The sentence in the link is empty; showing the seed sentence.")
        elif len(cleaned) > MAX_CHARS:
            notices.append(
                f"The sentence in the link has {len(cleaned)} characters, more than {MAX_CHARS}; showing the seed sentence."
            )
        else:
            state = state.with_sentence(cleaned)
    counterfactual = _single(params.get("counterfactual"))
    if counterfactual is not None and counterfactual.strip():
        cleaned = " ".join(counterfactual.split())
        if len(cleaned) > MAX_CHARS:
            notices.append(
                f"The counterfactual in the link is longer than {MAX_CHARS} characters; using the default swap."
            )
        else:
            state = replace(state, counterfactual=cleaned)
    for name in ("target", "contrast"):
        word = _single(params.get(name))
        if word is None or not word.strip():
            continue
        word = word.strip()
        if len(word.split()) != 1 or len(word) > MAX_WORD_CHARS:
            notices.append(f"The {name} “{_short(word)}” must be one word; using the sentence's default {name}.")
        else:
            state = replace(state, **{name: word})
    models = _single(params.get("models"))
    if models is not None:
        names = [name.strip() for name in models.split(",") if name.strip()]
        known = tuple(dict.fromkeys(name for name in names if name in available_models))
        missing = [name for name in names if name not in available_models]
        if missing:
            shown = ", ".join("“" + _short(name, 40) + "”" for name in missing[:5])
            notices.append(
                f"No usable model called {shown}; the lesson uses the models that load "
                f"({', '.join(available_models) or 'none'})."
            )
        state = replace(state, models=known)
    return state, notices
