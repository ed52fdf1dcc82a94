"""The lecture page: read the lesson from the URL, check it, draw one step with Back and Next.

The URL is the lesson's one source of truth (ui.lecture.url_state): the buttons, the keyboard and
the sidebar controls only write new parameters, and every run reads them back. A teacher can
prepare links before class; a bad link gets a notice and the defaults, never a traceback.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

import streamlit as st

from model.analysis.lesson_pair import counterfactual_text
from ui.lecture import numbers
from ui.lecture.frame import apply_style
from ui.lecture.lesson import Lesson
from ui.lecture.step_belt import WORD_KEY, word_range
from ui.lecture.steps import STEPS
from ui.lecture.url_state import LESSONS, LessonState, parse_params
from ui.services.model_store import ModelEntry, default_selection, discover, get_checkpoint
from ui.services.presets import PRESET_LABELS, preset_by_label
from ui.services.text_checks import check_text
from ui.settings import SEED_SENTENCE, checkpoints_root
from ui.widgets.guard import run_view
from ui.widgets.markup import md


def lecture_requested() -> bool:
    """The URL asks for the lecture (it has a ``lesson`` parameter)."""
    return "lesson" in st.query_params


def _params() -> dict[str, str]:
    return {name: st.query_params.get(name) for name in st.query_params}


def _enter() -> None:
    text = str(st.session_state.get("text") or "").strip()
    models = tuple(st.session_state.get("models") or ())
    st.query_params.from_dict(
        LessonState(models=models).with_sentence(" ".join(text.split()) or SEED_SENTENCE).to_params()
    )


def _leave() -> None:
    sentence = st.query_params.get("sentence") or SEED_SENTENCE
    st.query_params.clear()
    st.session_state["text"] = sentence  # the explore views go on with the lesson's sentence


def lecture_switch() -> None:
    """The sidebar's way into the lecture, for the explore page (carries its sentence and models along)."""
    st.session_state["lecture_mode"] = False
    st.toggle(
        "Lecture mode",
        key="lecture_mode",
        on_change=_enter,
        help="A guided lesson, one screen per step, for a projector. Its link opens the same step.",
    )


def _write(state: LessonState) -> None:
    wanted = state.to_params()
    if wanted != _params():
        st.query_params.from_dict(wanted)


def _resolve(state: LessonState, chosen: list[ModelEntry]) -> tuple[LessonState, list[ModelEntry], dict, list[str]]:
    """The pair the lesson is about, falling back to the sentence's defaults, then to the seed sentence."""
    notices: list[str] = []
    checked = check_text(state.sentence, get_checkpoint(chosen[0]).tokenizer)
    notices += checked.notices
    if checked.problem:
        notices.append(f"{checked.problem} Showing the seed sentence.")
        state = state.with_sentence(SEED_SENTENCE)
    elif checked.text != state.sentence:
        state = replace(state, sentence=checked.text)
    attempts = [state]
    if state.counterfactual or state.target or state.contrast:
        attempts.append(state.with_sentence(state.sentence))
    if state.sentence != SEED_SENTENCE:
        attempts.append(state.with_sentence(SEED_SENTENCE))
    for number, attempt in enumerate(attempts):
        try:
            pairs = [
                numbers.pair(
                    entry.path,
                    entry.signature,
                    attempt.sentence,
                    attempt.counterfactual,
                    attempt.target,
                    attempt.contrast,
                )
                for entry in chosen
            ]
        except ValueError as error:
            if number + 1 < len(attempts):
                instead = (
                    "its own defaults" if attempts[number + 1].sentence == attempt.sentence else "the seed sentence"
                )
                notices.append(f"{error} Using {instead} instead.")
                continue
            raise
        return replace(attempt, step=state.step), chosen, pairs[0], notices
    raise AssertionError("unreachable: the last attempt raises")


def _go(step: int) -> None:
    st.query_params["step"] = str(step)


def _move(delta: int, step: int, words: tuple[int, int] | None, belt_step: int) -> None:
    """Next (+1) or Back (-1): through the belt's words first on the belt step, else to the next step."""
    if words is not None:
        word = int(st.session_state.get(WORD_KEY, words[0]))
        if words[0] <= word + delta <= words[1]:
            st.session_state[WORD_KEY] = word + delta
            return
    target = step + delta
    if target == belt_step:
        st.session_state[WORD_KEY] = "first" if delta > 0 else "last"
    _go(target)


def _navigation(lesson: Lesson):
    """The step's top row: where we are, a slot for the step's own picker, Back and Next. Returns the slot."""
    step = STEPS[lesson.state.step - 1]
    belt_step = next(item.number for item in STEPS if item.walks_words)
    words = word_range(lesson) if step.walks_words else None
    if step.walks_words and st.session_state.get(WORD_KEY) in ("first", "last"):
        st.session_state[WORD_KEY] = words[0] if st.session_state[WORD_KEY] == "first" else words[1]
    at_start = step.number == 1
    at_end = step.number == len(STEPS) and (words is None or st.session_state.get(WORD_KEY) == words[1])
    with st.container(key="lecture-nav"):
        label, toolbar, back, forward = st.columns([4, 4, 1.3, 1.3], vertical_alignment="center")
        label.markdown(f"**Step {step.number} of {len(STEPS)} · {md(step.name)}**")
        back.button(
            "◀ Back",
            key="lecture_back",
            on_click=_move,
            args=(-1, step.number, words, belt_step),
            disabled=at_start,
            shortcut="Left",
            width="stretch",
        )
        forward.button(
            "Next ▶",
            key="lecture_next",
            on_click=_move,
            args=(1, step.number, words, belt_step),
            disabled=at_end,
            shortcut="Right",
            type="primary",
            width="stretch",
        )
    return toolbar


def _set(name: str, key: str) -> None:
    value = (st.session_state.get(key) or "").strip()
    if name == "sentence":
        params = LessonState(sentence=" ".join(value.split()) or SEED_SENTENCE).to_params()
        for kept in ("lesson", "step", "models"):
            if kept in st.query_params:
                params[kept] = st.query_params[kept]
        st.query_params.from_dict(params)
    elif value:
        st.query_params[name] = value
    elif name in st.query_params:
        del st.query_params[name]


def _set_models() -> None:
    st.query_params["models"] = ",".join(st.session_state.get("lecture_models") or [])


def _load_preset() -> None:
    preset = preset_by_label(st.session_state.get("lecture_preset"))
    if preset is None:
        return
    params = {
        "lesson": st.query_params.get("lesson") or "seed",
        "step": st.query_params.get("step") or "1",
        "sentence": preset.text,
        "counterfactual": counterfactual_text(preset.text, preset.cue, preset.counterfactual),
        "target": preset.target,
        "contrast": preset.contrast,
    }
    if "models" in st.query_params:
        params["models"] = st.query_params["models"]
    st.query_params.from_dict(params)


def _sidebar(lesson: Lesson, usable: list[ModelEntry]) -> None:
    state, pair = lesson.state, lesson.pair
    values = {
        "lecture_mode": True,
        "lecture_jump": state.step,
        "lecture_sentence": state.sentence,
        "lecture_counterfactual": pair["counterfactual"],
        "lecture_target": pair["target"],
        "lecture_contrast": pair["contrast"],
        "lecture_models": [entry.name for entry in lesson.models],
    }
    for key, value in values.items():
        st.session_state[key] = value
    with st.sidebar:
        st.header("Memory Lab · lecture")
        st.toggle(
            "Lecture mode", key="lecture_mode", on_change=_leave, help="Off: back to all the views, with this sentence."
        )
        st.caption(md(f"Lesson “{state.lesson}”: {LESSONS[state.lesson]}"))
        st.selectbox(
            "Go to step",
            [step.number for step in STEPS],
            key="lecture_jump",
            format_func=lambda number: f"{number} · {STEPS[number - 1].name}",
            on_change=lambda: _go(int(st.session_state["lecture_jump"])),
        )
        st.selectbox(
            "Example sentence",
            PRESET_LABELS,
            index=None,
            key="lecture_preset",
            on_change=_load_preset,
            placeholder="Pick an example…",
            help="Loads a sentence with its own target, contrast and counterfactual.",
        )
        st.text_input(
            "Sentence (Enter to apply)", key="lecture_sentence", on_change=_set, args=("sentence", "lecture_sentence")
        )
        st.text_input(
            "Counterfactual: the same sentence with the cue swapped",
            key="lecture_counterfactual",
            on_change=_set,
            args=("counterfactual", "lecture_counterfactual"),
            help="Same number of words; empty = swap the title and the name (Mr. Robert -> Mrs. Mary).",
        )
        left, right = st.columns(2)
        left.text_input("Target word", key="lecture_target", on_change=_set, args=("target", "lecture_target"))
        right.text_input("Contrast word", key="lecture_contrast", on_change=_set, args=("contrast", "lecture_contrast"))
        st.multiselect("Models", [entry.name for entry in usable], key="lecture_models", on_change=_set_models)
        st.caption("This step's link (add it to the app's address):")
        st.code("?" + urlencode(state.to_params()), language=None, wrap_lines=True)


def render_lecture() -> None:
    """Draw the lecture page (Streamlit calls this on every rerun in lecture mode)."""
    apply_style()
    entries = discover(checkpoints_root())
    usable = [entry for entry in entries if entry.ok]
    state, notices = parse_params(_params(), [entry.name for entry in usable])
    names = list(state.models) or default_selection(entries)
    chosen = [entry for name in names for entry in usable if entry.name == name]
    if not chosen:
        with st.sidebar:
            st.toggle("Lecture mode", key="lecture_mode", value=True, on_change=_leave)
        st.info(
            "No usable model to teach with: train one (Train tab, or `python -m model.train`) or pick one in the sidebar.",
            icon=":material/info:",
        )
        return
    state, chosen, pair, more = _resolve(state, chosen)
    lesson = Lesson(
        state=state,
        models=tuple(chosen),
        text=state.sentence,
        counterfactual=state.counterfactual,
        target=state.target,
        contrast=state.contrast,
        pair=pair,
    )
    _write(state)
    _sidebar(lesson, usable)
    for notice in notices + more:
        st.warning(md(notice), icon=":material/link_off:")
    step = STEPS[state.step - 1]
    with st.container(key=f"lecture-step-{step.number}"):
        toolbar = _navigation(lesson)
        run_view(f"Lecture step {step.number}", step.render, lesson, toolbar)
