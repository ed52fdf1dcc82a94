"""Presenter mode and the example sentences."""
from __future__ import annotations

from app_helpers import exception_free, open_app


def test_presenter_mode_enlarges_type(app_models):
    at = exception_free(open_app("Next word"))
    assert not any("font-size: 21px" in element.value for element in at.markdown)
    at.toggle(key="presenter").set_value(True).run()
    exception_free(at)
    assert any("font-size: 21px" in element.value for element in at.markdown)


def test_presets_load_teaching_sentences(app_models):
    at = open_app("Memory and influence")
    at.selectbox(key="preset").set_value("Mrs. Mary ... her (the twin)").run()
    exception_free(at)
    assert at.text_input(key="text").value.startswith("Mrs. Mary is going")
    assert at.selectbox(key="influence_target").value == 9  # "her" is the default target now
    at.selectbox(key="preset").set_value("Agreement across a long gap").run()
    exception_free(at)
    tokens_target = at.selectbox(key="influence_target")
    assert tokens_target.format_func(tokens_target.value).endswith("“were”")
    at.selectbox(key="preset").set_value("A quotation that must close").run()
    exception_free(at)
    assert '"' in at.text_input(key="text").value
