"""Lecture step 5: the conveyor belt. A drawn LSTM cell with the live gate values of the cue's units."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.lecture import frame, numbers, wording
from ui.lecture.cell_drawing import cell_svg
from ui.lecture.lesson import Lesson
from ui.widgets.markup import md

WORD_KEY = "lecture_word"
UNITS = 3


def word_range(lesson: Lesson) -> tuple[int, int]:
    """The words the belt steps through: from the cue's first word to the last word before the target."""
    start = int(lesson.pair["cue_span"][0])
    return start, max(start, int(lesson.pair["target_position"]) - 1)


def current_word(lesson: Lesson) -> int:
    """The word shown now (kept in the session, clamped to :func:`word_range`)."""
    first, last = word_range(lesson)
    value = st.session_state.get(WORD_KEY)
    if not isinstance(value, int) or not first <= value <= last:
        value = first
        st.session_state[WORD_KEY] = value
    return value


def belt(lesson: Lesson, toolbar: Any = None) -> None:
    """Step 5: f, i, o and the candidate of the units that carry the cue, one word at a time."""
    pair = lesson.pair
    entry = lesson.first("lstm")
    if entry is None:
        frame.title(5, "The conveyor belt is the LSTM's cell state: pick an LSTM to see it")
        with frame.figure(5):
            st.info(
                "None of the chosen models is an LSTM. Add one in the sidebar (Models).",
                icon=":material/conveyor_belt:",
            )
        return
    data = numbers.belt(entry.path, entry.signature, *lesson.args, count=UNITS)
    index = current_word(lesson)
    first, last = word_range(lesson)
    tokens = pair["tokens"]
    word = tokens[index]
    units = data["units"]
    in_cue = pair["cue_span"][0] <= index < pair["cue_span"][1]
    swapped = pair["counterfactual_tokens"][index] if index in pair["differing"] else pair["replacement_text"]
    frame.title(
        5,
        wording.belt_title(
            word,
            in_cue,
            data["forget_gate"][index],
            data["input_gate"][index],
            units[0],
            data["cell"][index][0],
            data["counterfactual_cell"][index][0],
            swapped,
        ),
    )
    st.markdown(
        frame.sentence_html(tokens, tuple(pair["cue_span"]), pair["target_position"], pair["target"], current=index),
        unsafe_allow_html=True,
    )
    shares = ", ".join(f"{unit}: {row['effect']:.0%}" for unit, row in zip(units, data["ranked"]))
    frame.sentences(
        [
            "The top line is the belt: the forget gate f scales what it carries, the input gate i lets the new content g on, "
            "and the output gate o decides how much of tanh(c) leaves as h.",
            f"Shown: the {len(units)} cell units of {lesson.labels[entry.name]} that carry most of the swap on their own ({shares}).",
            (
                f"Next reads the next word (word {index + 1} of {first + 1}–{last + 1})."
                if index < last
                else f"{wording.quoted(word)} is the last word before {wording.quoted(pair['target'])}: Next moves on."
            ),
        ]
    )
    gates = {
        name: data[key][index]
        for name, key in (("f", "forget_gate"), ("i", "input_gate"), ("g", "candidate"), ("o", "output_gate"))
    }
    with frame.figure(5):
        st.markdown(
            '<div class="lecture-cell">'
            + cell_svg(
                word,
                units,
                gates,
                data["cell_before"][index],
                data["cell"][index],
                data["counterfactual_cell"][index],
                pair["replacement_text"],
            )
            + "</div>",
            unsafe_allow_html=True,
        )
        st.caption(
            f"{md(entry.name)} reading “{md(word)}” (word {index + 1}): gates f, i, o from 0 (shut) to 1 (open), candidate g "
            "from −1 to 1, cell c before and after this word; c_t if the cue were swapped, on the counterfactual. Read from "
            "the trained weights by running the cell word by word. Units ranked by single-unit transplant: the share of the "
            "whole swap effect on "
            + md(lesson.contrast_formula)
            + " that moving only that unit from the counterfactual "
            "run moves (1 = all of it; model.analysis.memory.units.rank_units)."
        )
