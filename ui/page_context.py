"""The sidebar and the sentence box: which models, which text, which mode. Built once per rerun."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from ui.services.model_store import ModelEntry, default_selection, discover, get_checkpoint
from ui.services.presets import PRESET_LABELS, preset_by_label
from ui.services.text_checks import CheckedText, check_text
from ui.settings import SEED_SENTENCE, checkpoints_root
from ui.widgets.markup import md


@dataclass
class Context:
    """What every view needs.

    Attributes:
        root: the checkpoints folder.
        entries: every folder found there (usable or not).
        chosen: the usable models picked in the sidebar, in picker order.
        checked: the sentence after :func:`ui.services.text_checks.check_text` (None when no model is chosen).
        presenter: large type and the step-through hints.
    """

    root: str
    entries: list[ModelEntry]
    chosen: list[ModelEntry]
    checked: CheckedText | None
    presenter: bool

    @property
    def text(self) -> str:
        """The checked sentence ("" when there is none)."""
        return self.checked.text if self.checked is not None else ""

    @property
    def ready(self) -> bool:
        """Models are chosen and the text can be analysed."""
        return bool(self.chosen) and self.checked is not None and self.checked.ok


def _apply_preset() -> None:
    preset = preset_by_label(st.session_state.get("preset"))
    if preset is not None:
        st.session_state["text"] = preset.text


def sidebar() -> tuple[str, list[ModelEntry], list[ModelEntry], bool]:
    """Draw the sidebar: presenter toggle, presets, model picker, broken folders.

    Returns:
        (checkpoints root, all entries, chosen usable entries, presenter flag).
    """
    root = checkpoints_root()
    entries = discover(root)
    usable = [entry for entry in entries if entry.ok]
    broken = [entry for entry in entries if not entry.ok]
    with st.sidebar:
        st.header("Memory Lab")
        presenter = st.toggle("Presenter mode", key="presenter", help="Large type for a projector.")
        st.selectbox(
            "Example sentence",
            PRESET_LABELS,
            index=None,
            key="preset",
            on_change=_apply_preset,
            placeholder="Pick an example…",
            help="Loads a teaching example into the sentence box.",
        )
        preset = preset_by_label(st.session_state.get("preset"))
        if preset is not None:
            st.caption(md(preset.note))
        names = [entry.name for entry in usable]
        if "models" not in st.session_state:
            st.session_state["models"] = default_selection(entries)
        else:
            # Keep the picks that still exist (a folder may have been deleted or broken since).
            st.session_state["models"] = [name for name in st.session_state["models"] if name in names]
        picked = st.multiselect(
            "Models to compare",
            names,
            key="models",
            help="Every folder under the checkpoints folder that loads; a newly trained model appears here at once.",
        )
        st.caption(f"Checkpoints folder: `{root}` ({len(usable)} usable, {len(broken)} not usable).")
        if broken:
            with st.expander(f"Folders that could not be loaded ({len(broken)})"):
                for entry in broken:
                    st.markdown(f"**{md(entry.name)}**: {md(entry.error or '')}")
    chosen = [entry for entry in usable if entry.name in picked]
    chosen.sort(key=lambda entry: picked.index(entry.name))
    return root, entries, chosen, presenter


def sentence_box(chosen: list[ModelEntry]) -> CheckedText | None:
    """The sentence input (Enter submits) and the checks on it; None when there is no model to read it."""
    if "text" not in st.session_state:
        st.session_state["text"] = SEED_SENTENCE
    raw = st.text_input(
        "Sentence (press Enter to analyse)",
        key="text",
        help="Any English text; the views analyse it word by word. Punctuation marks count as words.",
    )
    if not chosen:
        return None
    checked = check_text(raw, get_checkpoint(chosen[0]).tokenizer)
    for notice in checked.notices:
        st.warning(md(notice), icon=":material/content_cut:")
    if checked.problem:
        st.error(checked.problem, icon=":material/block:")
    return checked
