"""The lesson's URL parameters: good links open what they say, bad ones get a notice and the defaults."""

from __future__ import annotations

import pytest

from ui.lecture.url_state import STEP_COUNT, LessonState, parse_params
from ui.settings import SEED_SENTENCE

MODELS = ["novels-rnn", "novels-lstm", "novels-gru"]


def test_a_prepared_link_reads_back_exactly():
    params = {
        "lesson": "seed",
        "step": "3",
        "sentence": "Mrs.  Mary is   going home with her son .",
        "counterfactual": "Mr. Robert is going home with her son .",
        "models": "novels-lstm,novels-rnn",
        "target": "her",
        "contrast": "his",
    }
    state, notices = parse_params(params, MODELS)
    assert notices == []
    assert state == LessonState(
        lesson="seed",
        step=3,
        sentence="Mrs. Mary is going home with her son .",
        counterfactual="Mr. Robert is going home with her son .",
        models=("novels-lstm", "novels-rnn"),
        target="her",
        contrast="his",
    )
    assert parse_params(state.to_params(), MODELS) == (state, [])


def test_defaults_stay_out_of_the_url():
    state, notices = parse_params({"lesson": "seed", "step": "2"}, MODELS)
    assert notices == [] and state.step == 2 and state.sentence == SEED_SENTENCE and state.models == ()
    assert state.to_params() == {"lesson": "seed", "step": "2"}
    assert (
        parse_params({"lesson": ["seed", "seed"], "step": ["1", "4"]}, MODELS)[0].step == 4
    )  # a repeated name: the last one


@pytest.mark.parametrize(
    "params, expected, words",
    [
        ({"lesson": "nope"}, LessonState(), ["no lesson “nope”", "seed lesson"]),
        ({"lesson": "seed", "step": "0"}, LessonState(), ["step “0”", f"1 to {STEP_COUNT}"]),
        ({"lesson": "seed", "step": "99"}, LessonState(), ["step “99”"]),
        ({"lesson": "seed", "step": "two"}, LessonState(), ["step “two”"]),
        ({"lesson": "seed", "step": "-3"}, LessonState(), ["step “-3”"]),
        ({"lesson": "seed", "sentence": "   "}, LessonState(), ["empty"]),
        ({"lesson": "seed", "sentence": "x" * 5000}, LessonState(), ["5000 characters"]),
        ({"lesson": "seed", "target": "his wife"}, LessonState(), ["target “his wife” must be one word"]),
        ({"lesson": "seed", "contrast": "y" * 80}, LessonState(), ["contrast", "one word"]),
        (
            {"lesson": "seed", "models": "ghost,novels-lstm"},
            LessonState(models=("novels-lstm",)),
            ["“ghost”", "novels-rnn"],
        ),
        ({"lesson": "seed", "models": ",,"}, LessonState(), []),
        ({"lesson": "seed", "colour": "red", "<b>": "1"}, LessonState(), ["unknown URL parameters “colour”, “<b>”"]),
    ],
)
def test_bad_values_are_named_and_replaced(params, expected, words):
    state, notices = parse_params(params, MODELS)
    assert state == expected
    text = " ".join(notices)
    for word in words:
        assert word in text, (word, notices)
    assert len(notices) == (1 if words else 0)


def test_a_new_sentence_drops_the_old_pairs_words():
    state = LessonState(counterfactual="Mrs. Mary ...", target="his", contrast="her", step=4)
    fresh = state.with_sentence("The letters were sent.")
    assert (fresh.counterfactual, fresh.target, fresh.contrast, fresh.step) == (None, None, None, 4)
