"""results_by_model: a model that refuses the input is named on the page and left out; the others still show."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _page() -> None:
    import streamlit as st

    from ui.services.model_store import ModelEntry
    from ui.widgets.common import results_by_model

    def entry(name: str, arch: str) -> ModelEntry:
        return ModelEntry(name=name, path=f"/nowhere/{name}", signature=(), error=None, arch=arch)

    def compute(model: ModelEntry) -> int:
        if model.arch == "rnn":
            raise ValueError("“Zanzibar” is not in this model's vocabulary <b>")
        return len(model.name)

    results = results_by_model([entry("a-rnn", "rnn"), entry("b-lstm", "lstm")], compute)
    st.write(f"kept: {sorted(results.items())}")


def test_a_refusing_model_is_named_and_left_out() -> None:
    app = AppTest.from_function(_page).run(timeout=60)
    assert not app.exception
    [error] = app.error
    assert error.value.startswith("a-rnn (RNN): ")
    assert "Zanzibar" in error.value and "<b>" not in error.value  # the message went through md(): markup escaped
    assert [text.value for text in app.markdown] == ["kept: [('b-lstm', 6)]"]
