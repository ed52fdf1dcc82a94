"""Lecture mode in AppTest: every step by URL, Back and Next, every preset, and bad links."""

from __future__ import annotations

import html
import json
import os
import re

import pytest
from app_helpers import (
    ROOT_APP,
    SEED,
    assert_every_chart_captioned,
    captions,
    charts,
    exception_free,
    messages,
    open_app,
    plain,
)
from streamlit.testing.v1 import AppTest

from ui.lecture.steps import STEPS
from ui.lecture.url_state import STEP_COUNT
from ui.services.presets import PRESETS

TWIN = "Mrs. Mary is going on a vacation with her husband to Hawaii next month."
# A sentence in the tiny models' own words (tests/text_fixtures.py): their cue effects are clear on it.
TINY = "Mr. John said that the road was long , so his friend came to tea ."


def lecture(step: int | str | None = 1, **params: str) -> AppTest:
    """Run the app once on a lecture URL (?lesson=seed&step=N&...); asserts nothing."""
    at = AppTest.from_file(os.path.abspath(ROOT_APP), default_timeout=90)
    at.query_params["lesson"] = params.pop("lesson", "seed")
    if step is not None:
        at.query_params["step"] = str(step)
    for name, value in params.items():
        at.query_params[name] = value
    return at.run()


def title(at: AppTest) -> str:
    """The step's title (the one lecture-title heading), as read."""
    found = [
        html.unescape(re.sub(r"<[^>]+>", "", element.value))
        for element in at.markdown
        if 'class="lecture-title"' in element.value
    ]
    assert len(found) == 1, found
    return found[0]


def step_label(at: AppTest) -> str:
    return next(plain(element.value).strip("*") for element in at.markdown if element.value.startswith("**Step "))


def test_there_is_one_step_per_url_number():
    assert [step.number for step in STEPS] == list(range(1, STEP_COUNT + 1))


@pytest.mark.slow
@pytest.mark.parametrize("step", range(1, STEP_COUNT + 1))
def test_every_step_opens_by_url_with_a_computed_title(app_models, step):
    at = exception_free(lecture(step))
    assert step_label(at).startswith(f"Step {step} of {STEP_COUNT}")
    seed_title = title(at)
    assert seed_title and not messages(at, "warning")
    if step != 5:  # the belt is a drawing, not a chart
        assert assert_every_chart_captioned(at) >= 1
        for chart in charts(at):
            assert chart["spec"]["config"]["axis"]["labelFontSize"] == 20  # projector type inside every chart
    else:
        svg = [element.value for element in at.markdown if "<svg" in element.value]
        assert len(svg) == 1 and "<script" not in svg[0] and "cell state c" in svg[0]
        assert "f, i, o from 0 (shut) to 1 (open)" in captions(at)
    other = exception_free(lecture(step, sentence=TINY))
    assert title(other) != seed_title  # the words come from the numbers, not from a script
    assert dict(other.query_params)["sentence"] == TINY


def test_step_one_shows_his_and_her_on_one_scale(app_models):
    at = exception_free(lecture(1))
    found = charts(at)
    assert len(found) == 3  # one panel per model
    domains = {json.dumps(chart["spec"]["layer"][0]["encoding"]["x"]["scale"]["domain"]) for chart in found}
    assert len(domains) == 1  # one shared probability scale
    for chart in found:
        roles = dict(zip(chart["data"]["word"], chart["data"]["role"]))
        assert roles["his"] == "target" and roles["her"] == "contrast"
    assert any('class="lecture-target"' in element.value and ">his<" in element.value for element in at.markdown)


def test_step_two_compares_before_and_after_in_one_chart(app_models):
    at = exception_free(lecture(2))
    (chart,) = charts(at)
    assert set(chart["data"]["sentence"]) == {"with “Mr. Robert”", "with “Mrs. Mary”"}
    assert len(chart["data"]) == 6  # three models, before and after
    assert "Only the cue changes: “Mr. Robert” becomes “Mrs. Mary”" in plain(" ".join(e.value for e in at.markdown))


@pytest.mark.slow
def test_next_and_back_walk_the_steps_and_the_belts_words(app_models):
    at = exception_free(lecture(4))
    at.button(key="lecture_next").click().run()
    exception_free(at)
    assert at.query_params["step"] == "5"
    first = title(at)
    assert first.startswith("At “Mr”")
    at.button(key="lecture_next").click().run()  # the belt reads the next word, the step stays
    assert at.query_params["step"] == "5" and title(at).startswith("At “.”")
    at.button(key="lecture_back").click().run()
    assert title(at) == first
    at.button(key="lecture_back").click().run()  # from the first word back to step 4
    assert step_label(exception_free(at)).startswith("Step 4")
    at = exception_free(lecture(6))
    at.button(key="lecture_back").click().run()  # into the belt from behind: its last word, "with"... before "his"
    assert title(exception_free(at)).startswith("At “with”")
    at = exception_free(lecture(1))
    assert at.button(key="lecture_back").disabled and not at.button(key="lecture_next").disabled
    assert exception_free(lecture(STEP_COUNT)).button(key="lecture_next").disabled


def _unknown_to_tiny(root: str, words: tuple[str, ...]) -> list[str]:
    from data.tokenizer import WordTokenizer

    tokenizer = WordTokenizer.load(os.path.join(root, "tiny-lstm", "tokenizer.json"))
    return [word for word in words if tokenizer.token_to_id(word) is None]


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS, ids=[preset.label for preset in PRESETS])
def test_every_preset_runs_every_step(app_models, preset):
    at = exception_free(lecture(1))
    at.selectbox(key="lecture_preset").set_value(preset.label).run()
    exception_free(at)
    unknown = _unknown_to_tiny(app_models, (preset.target, preset.contrast))
    params = {name: str(value) for name, value in at.query_params.items()}
    if not unknown:  # the lesson runs on the preset's own words, with its own counterfactual
        assert params.get("sentence", SEED) == preset.text and params["target"] == preset.target
        assert params["contrast"] == preset.contrast and not messages(at, "warning")
    else:  # the tiny models do not know a word: the notice names it and the lesson goes on
        assert any(
            repr(unknown[0]) in text and "not in the model's vocabulary" in text for text in messages(at, "warning")
        )
    for step in range(1, STEP_COUNT + 1):
        shown = exception_free(
            lecture(
                step,
                sentence=preset.text,
                counterfactual=preset_counterfactual(preset),
                target=preset.target,
                contrast=preset.contrast,
            )
        )
        assert bool(messages(shown, "warning")) == bool(unknown), (step, messages(shown, "warning"))
        assert title(shown)


def preset_counterfactual(preset) -> str:
    from model.analysis.lesson_pair import counterfactual_text

    return counterfactual_text(preset.text, preset.cue, preset.counterfactual)


@pytest.mark.parametrize(
    "params, words",
    [
        ({"lesson": "nope"}, ["no lesson “nope”"]),
        ({"step": "99"}, ["step “99”"]),
        ({"step": "<script>"}, ["step “<script>”"]),
        ({"models": "ghost"}, ["“ghost”"]),
        ({"target": "two words"}, ["must be one word"]),
        ({"target": "zebra", "contrast": "her"}, ["not in the model's vocabulary", "own defaults"]),
        ({"target": "tea"}, ["no default contrast"]),
        ({"counterfactual": "Mrs. Mary Anne is going"}, ["same number of tokens", "own defaults"]),
        ({"sentence": "the road was long ."}, ["no title-and-name cue", "seed sentence"]),
        ({"sentence": "..."}, ["seed sentence"]),
        ({"colour": "red"}, ["unknown URL parameter “colour”"]),
    ],
)
def test_bad_links_get_a_notice_and_the_defaults(app_models, params, words):
    step = params.pop("step", "2")
    at = exception_free(lecture(step, **params))
    notices = " ".join(plain(text) for text in messages(at, "warning"))
    for word in words:
        assert word in notices, (word, notices)
    assert title(at)  # the lesson goes on with the defaults
    shown = {name: str(value) for name, value in at.query_params.items()}
    assert shown["lesson"] == "seed" and shown["step"] in {"1", "2"}
    assert "colour" not in shown and shown.get("target") != "zebra"


def test_a_model_list_without_an_lstm_explains_the_belt(app_models):
    at = exception_free(lecture(5, models="tiny-rnn,tiny-gru"))
    assert "pick an LSTM" in title(at)
    assert any("None of the chosen models is an LSTM" in text for text in messages(at, "info"))
    assert len(charts(exception_free(lecture(1, models="tiny-rnn")))) == 1


def test_the_sidebar_switches_between_explore_and_lecture(app_models):
    at = exception_free(open_app("Next word", text=TWIN))
    assert at.toggle(key="lecture_mode").value is False
    at.toggle(key="lecture_mode").set_value(True).run()
    exception_free(at)
    shown = {name: str(value) for name, value in at.query_params.items()}
    assert shown["lesson"] == "seed" and shown["step"] == "1" and shown["sentence"] == TWIN
    assert step_label(at).startswith("Step 1")
    at.selectbox(key="lecture_jump").set_value(3).run()
    assert step_label(exception_free(at)).startswith("Step 3")
    at.text_input(key="lecture_sentence").set_value(SEED).run()
    assert "sentence" not in dict(exception_free(at).query_params)  # the seed is the default, kept out of the link
    at.toggle(key="lecture_mode").set_value(False).run()
    exception_free(at)
    assert "lesson" not in dict(at.query_params) and at.text_input(key="text").value == SEED
    assert at.tabs  # the explore page with its tabs is back


def test_a_sidebar_counterfactual_and_words_go_into_the_link(app_models):
    at = exception_free(lecture(2))
    at.text_input(key="lecture_counterfactual").set_value(
        "Mr. Mary is going on a vacation with his wife to Hawaii next month."
    ).run()
    exception_free(at)
    assert "with “Mr. Mary”" in set(charts(at)[0]["data"]["sentence"])
    at.text_input(key="lecture_target").set_value("her").run()  # its default contrast follows: "his"
    shown = {name: str(value) for name, value in exception_free(at).query_params.items()}
    assert shown["target"] == "her" and at.text_input(key="lecture_contrast").value == "his"
    assert "log P(her) − log P(his)" in captions(at)
    at.text_input(key="lecture_counterfactual").set_value("").run()  # empty: back to the default swap
    assert "counterfactual" not in dict(exception_free(at).query_params)
    assert "with “Mrs. Mary”" in set(charts(at)[0]["data"]["sentence"])


def test_the_ladder_says_once_why_it_cannot_be_built(app_models):
    at = exception_free(lecture(6, sentence="Mr. John said that the road was long ,", target="his", contrast="her"))
    assert title(at) == "The distance ladder cannot be built for this sentence"
    (notice,) = messages(at, "info")  # one notice for the three models, which share the reason
    assert plain(notice).startswith(
        "The RNN, the LSTM and the GRU: The distance ladder needs the target 'his' inside the sentence"
    )
    assert any(
        "lecture-slot" in element.value for element in at.markdown
    )  # the strip shows the word after the text as a slot
