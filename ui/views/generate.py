"""Generate: each model writes its own continuation of a prompt, side by side, at a chosen temperature."""

from __future__ import annotations

import streamlit as st

from ui.page_context import Context
from ui.services import analysis_cache
from ui.services.model_store import get_checkpoint
from ui.services.presets import next_word_row
from ui.widgets.common import titled_columns
from ui.widgets.markup import md

MAX_WORDS = 60


def _default_prompt(context: Context) -> str:
    """The sentence up to its lesson word ("Mr. Robert is going on a vacation with"), else the whole sentence."""

    encoded = get_checkpoint(context.chosen[0]).tokenizer.encode(context.text)
    row = next_word_row(list(encoded.tokens), context.text)
    return context.text[: encoded.offsets[row - 1][1]] if 0 < row < len(encoded.tokens) else context.text


def model_seed(seed: int, index: int) -> int:
    """The sampling seed of the ``index``-th model in the list for the seed the reader picked."""
    return seed * 1000 + index


def _new_samples() -> None:
    st.session_state["generate_seed"] = int(st.session_state.get("generate_seed", 0)) + 1


def render(context: Context) -> None:
    """Draw the Generate view: a prompt, the sampling settings and one continuation per model."""
    st.markdown(
        "Each model continues the prompt on its own, one word at a time: it draws every next word at random "
        "from the probabilities it gives, then reads that word and draws the next."
    )
    if st.session_state.get("generate_for") != context.text:
        # A new sentence above: the prompt becomes that sentence up to its lesson word.
        st.session_state["generate_for"] = context.text
        st.session_state["generate_prompt"] = _default_prompt(context)
    prompt = st.text_input(
        "Prompt (press Enter to generate)",
        key="generate_prompt",
        help="Starts as the sentence above, cut just before the word the lesson is about.",
    )
    # The button's column is as wide as the temperature's: in presenter type "New samples" was cut to "New s…".
    row = st.columns([3, 2, 2, 3])
    temperature = row[0].slider(
        "Temperature",
        0.1,
        2.0,
        0.8,
        0.1,
        key="generate_temperature",
        help="Below 1: the likeliest words win more often; above 1: rarer words come up more.",
    )
    words = row[1].slider("Words", 5, MAX_WORDS, 25, 5, key="generate_words", help="How many tokens each model adds.")
    st.session_state.setdefault("generate_seed", 0)
    seed = row[2].number_input(
        "Seed",
        0,
        1_000_000,
        step=1,
        key="generate_seed",
        help="The random seed of the draws: the same seed, prompt and temperature give the same text.",
    )
    row[3].button("New samples", key="generate_again", on_click=_new_samples, icon=":material/casino:", width="stretch")
    for index, (column, entry) in enumerate(zip(titled_columns(context.chosen), context.chosen)):
        with column:
            try:
                # Each model its own random numbers (seed + its place in the list): with one shared stream, models
                # with similar probabilities drew the same first words, which looked like one text copied three times.
                continuation = analysis_cache.generate(
                    entry.path, entry.signature, prompt, int(words), float(temperature), model_seed(int(seed), index)
                )
            except ValueError as error:
                st.error(md(str(error)), icon=":material/help:")
                continue
            shown = continuation.replace("\n", " ¶ ")
            st.markdown(f"{md(prompt)} **{md(shown)}**" if prompt.strip() else f"**{md(shown)}**")
    st.caption(
        f"Bold: the words each model drew, {int(words)} tokens sampled from softmax(scores ÷ {float(temperature):g}) over its "
        "whole vocabulary (temperature 1 = the model's own probabilities), seed "
        f"{int(seed)} (each model draws its own random numbers from it); the unknown-word token is never drawn and ¶ marks where a model ended a paragraph. This is a "
        "random draw, not the model's single best guess: press New samples for another."
    )
