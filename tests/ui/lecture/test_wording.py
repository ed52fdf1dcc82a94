"""The lecture's titles follow the numbers: change a number and the words change with it."""

from __future__ import annotations

import pytest

from ui.lecture import wording

# The shipped models on the seed sentence (issue 10's table and model.analysis.lesson on them).
SEED_SWAP = [
    {"label": "the RNN", "before": -0.75, "after": -1.35},
    {"label": "the LSTM", "before": 0.59, "after": -1.07},
    {"label": "the GRU", "before": 2.36, "after": -2.76},
]
LSTM_PARTS = {
    "Mr.": {"swap": 1.05, "occlusion": 0.20, "ig": -0.06, "gradxinput": 0.08, "grad": 0.65},
    "Robert": {"swap": 0.45, "occlusion": -0.32, "ig": -0.18, "gradxinput": -0.80, "grad": 1.59},
}


def test_numbers_are_short_and_signed_with_a_true_minus():
    assert [wording.number(v) for v in (0.588, 12.4, 0.0000361, 0, 25000, None)] == [
        "0.59",
        "12",
        "4e-05",
        "0",
        "2e+04",
        "n/a",
    ]
    assert wording.signed(-1.068) == "−1.07" and wording.signed(0.2) == "+0.20"


def test_models_are_called_by_architecture_unless_two_share_one():
    assert wording.model_labels([("novels-rnn", "rnn"), ("novels-lstm", "lstm")]) == {
        "novels-rnn": "the RNN",
        "novels-lstm": "the LSTM",
    }
    assert wording.model_labels([("a", "lstm"), ("b", "lstm")]) == {"a": "a", "b": "b"}
    assert wording.listed(["the RNN", "the LSTM", "the GRU"]) == "the RNN, the LSTM and the GRU"


def test_expectation_title_sorts_models_by_what_they_expect():
    rows = [
        {"label": "the RNN", "target": 0.014, "contrast": 0.029},
        {"label": "the LSTM", "target": 0.078, "contrast": 0.043},
        {"label": "the GRU", "target": 0.092, "contrast": 0.009},
    ]
    assert wording.expectation_title(rows, "his", "her", "with") == (
        "After “with”, the LSTM and the GRU expect “his” more than “her”; the RNN expects “her”"
    )
    assert (
        wording.expectation_title(rows[1:], "his", "her", "with")
        == "After “with”, every model expects “his” more than “her”"
    )
    assert (
        wording.expectation_title(rows[:1], "his", "her", "with")
        == "After “with”, the RNN expects “her” more than “his”"
    )
    both_wrong = [dict(rows[0], label="the GRU"), rows[0]]
    assert (
        wording.expectation_title(both_wrong, "his", "her", "")
        == "At the start, no model expects “his” more than “her”"
    )


def test_swap_title_is_the_issues_example_on_its_numbers():
    assert (
        wording.swap_title(SEED_SWAP[:2], "his", "her")
        == "The LSTM flips from “his” to “her”; the RNN never prefers “his”"
    )
    assert (
        wording.swap_title(SEED_SWAP, "his", "her")
        == "The LSTM and the GRU flip from “his” to “her”; the RNN never prefers “his”"
    )
    stubborn = [{"label": "the RNN", "before": 0.5, "after": 0.2}, {"label": "the GRU", "before": -0.2, "after": 0.4}]
    assert wording.swap_title(stubborn, "his", "her") == (
        "The RNN prefers “his” either way; the GRU moves the wrong way, from “her” to “his”"
    )
    sentences = wording.swap_sentences(SEED_SWAP, "his", "her", "Mr. Robert", "Mrs. Mary")
    assert sentences[0] == "Only the cue changes: “Mr. Robert” becomes “Mrs. Mary”; every other word stays."
    assert sentences[1] == "The RNN still moves 0.60 nats towards “her”."
    assert len(sentences) == 3


def test_span_title_says_the_lstms_cue_is_the_title_and_where_the_methods_disagree():
    assert wording.span_title("the LSTM", LSTM_PARTS) == (
        "For the LSTM, the cue is mostly “Mr.”: swapping it moves 1.05 nats, “Robert” 0.45; "
        "only the gradient size ranks “Robert” first"
    )
    sentences = wording.span_sentences(LSTM_PARTS)
    assert len(sentences) == 3 and "never which way" in sentences[1]
    assert sentences[2].startswith(
        "Hiding, integrated gradients and gradient × input give “Robert” the opposite sign to the swap"
    )
    # One method against the swap takes the singular verb (the 19M-word LSTM's step 3 read "Hiding give").
    one_against = {"Mr.": dict(LSTM_PARTS["Mr."], occlusion=-0.2, ig=0.3, gradxinput=0.1)}
    assert wording.span_sentences(one_against)[2].startswith("Hiding gives “Mr.” the opposite sign to the swap")
    rnn = {
        "Mr.": {"swap": 0.38, "occlusion": 0.20, "ig": 0.73, "gradxinput": 0.09, "grad": 0.23},
        "Robert": {"swap": 0.33, "occlusion": -0.17, "ig": -0.68, "gradxinput": 0.03, "grad": 0.39},
    }
    assert wording.span_title("the RNN", rnn) == (
        "For the RNN, “Mr.” and “Robert” carry the cue about equally (0.38 and 0.33 nats); only the gradient size ranks "
        "“Robert” first"
    )
    mixed = {"Mr.": dict(LSTM_PARTS["Mr."], occlusion=-0.5), "Robert": LSTM_PARTS["Robert"]}
    assert wording.span_title("the LSTM", mixed).endswith("the other methods disagree, so the evidence is mixed")
    agreed = {"Mr.": dict(LSTM_PARTS["Mr."], grad=2.0), "Robert": LSTM_PARTS["Robert"]}
    assert wording.span_title("the LSTM", agreed).endswith("; every method agrees")
    flat = {"Mr.": dict(LSTM_PARTS["Mr."], swap=0.02), "Robert": dict(LSTM_PARTS["Robert"], swap=-0.01)}
    assert (
        wording.span_title("the GRU", flat)
        == "For the GRU the cue barely matters: swapping any part of it moves the prediction 0.02 nats at most"
    )
    assert (
        wording.span_title("the LSTM", {"letters": LSTM_PARTS["Mr."]})
        == "For the LSTM, swapping “letters” moves the prediction by 1.05 nats"
    )


def test_flow_title_says_whether_anything_has_vanished():
    rows = [{"label": "the RNN", "arch": "rnn", "kept": 0.30}, {"label": "the LSTM", "arch": "lstm", "kept": 0.17}]
    assert wording.flow_title(rows, "Robert", "with", 6) == (
        "Over the 6 words from “Robert” to “with”, a change survives as 0.30 in the RNN and 0.17 on the LSTM's belt: "
        "nothing has vanished yet"
    )
    faded = [dict(rows[0], kept=0.001), rows[1]]
    assert wording.flow_title(faded, "Robert", "with", 40).endswith("the RNN's signal fades fastest")
    assert wording.flow_title([dict(rows[1], kept=0.01)], "Robert", "with", 40).endswith(
        "part of the signal has vanished"
    )
    assert wording.flow_title(rows, "Robert", "with", 0).startswith("The cue is the last word read")
    assert wording.calculator_sentence([0.2, 0.1, 0.3], 0.006) == (
        "The chain rule multiplies one slope per word: 3 slopes of 0.10 to 0.30 give 6e-03, the share of a gradient that "
        "survives the trip back."
    )


def test_belt_title_reads_the_gates():
    writing = wording.belt_title("Robert", True, [0.9, 0.8], [0.7, 0.6], 210, 0.8, -0.4, "Mary")
    assert (
        writing
        == "At “Robert” the input gates open and write it onto the belt (i ≈ 0.65); unit 210's cell: +0.80 here, −0.40 with “Mary”"
    )
    assert wording.belt_title("a", False, [0.95, 0.99], [0.1], 210, 1.0, 0.1, "Mrs. Mary").startswith(
        "At “a” the forget gates stay near 1 (≥ 0.95): the belt carries the cue on"
    )
    # A sigmoid never reaches 1: its lower bound is rounded down, not up to "≥ 1.00".
    assert "stay near 1 (≥ 0.99)" in wording.belt_title("a", False, [0.9996, 0.9999], [0.1], 210, 1.0, 0.1, "Mrs. Mary")
    assert "a forget gate drops to 0.51" in wording.belt_title(
        ".", False, [0.51, 0.99], [0.1], 3, 1.0, 0.1, "Mrs. Mary"
    )


def test_distance_title_and_the_vanishing_gradient_sentence():
    rows = [
        {"label": "the LSTM", "value": 45.2, "beyond": False, "measurable": True},
        {"label": "the GRU", "value": 49.0, "beyond": False, "measurable": True},
        {"label": "the RNN", "value": None, "beyond": True, "measurable": True},
    ]
    assert wording.distance_title(rows, 74) == (
        "The cue's effect halves after 45 words for the LSTM and 49 words for the GRU; for the RNN it does not halve within 74 words"
    )
    faint = [dict(rows[2], beyond=False, measurable=False, reference=0.31)]
    assert (
        wording.distance_title(faint, 74)
        == "The RNN shows no clear effect to follow (+0.31 nats at the shortest distance)"
    )
    sentence = wording.vanishing_sentence(
        [
            {"label": "the RNN", "gradient_first": 0.39, "gradient_last": 0.001, "effect_last": 1.58},
            {"label": "the LSTM", "gradient_first": 1.59, "gradient_last": 0.86, "effect_last": 0.67},
        ],
        "Robert",
    )
    assert sentence == (
        "The RNN: the gradient with respect to “Robert” falls to 1e-03 at the longest rung, yet the swap still "
        "moves 1.58 nats: the gradient vanishes, the memory does not."
    )
    assert (
        wording.vanishing_sentence(
            [{"label": "the LSTM", "gradient_first": 1.59, "gradient_last": 0.86, "effect_last": 0.67}], "Robert"
        )
        is None
    )


@pytest.mark.parametrize(
    "factor, scaled, clip, expected",
    [
        (
            2.0,
            2.22,
            1.0,
            "With its recurrent weights × 2, the RNN's gradient from 6 words back grows to 2.22, 7.4 times the trained 0.30; "
            "clipping caps it at 1.00",
        ),
        (
            0.5,
            0.01,
            None,
            "With its recurrent weights × 0.5, the RNN's gradient from 6 words back shrinks to 0.01, from 0.30",
        ),
        (1.0, 0.30, 1.0, "The RNN's gradient from 6 words back is 0.30"),
        (
            1.25,
            0.33,
            None,
            "With its recurrent weights × 1.25, the RNN's gradient from 6 words back stays near 0.30 (0.33)",
        ),
    ],
)
def test_exploding_title(factor, scaled, clip, expected):
    assert wording.exploding_title("the RNN", factor, 6, 0.30, scaled, clip) == expected


def test_exploding_sentence_says_blows_up_only_when_the_numbers_show_it():
    # The shipped RNN at x 2: 0.97 from 9 words back, below a change passed on whole.
    below = wording.exploding_sentence(2.0, 9, 0.97)
    assert "0.97, still below 1" in below and "has not blown up here" in below
    above = wording.exploding_sentence(3.0, 9, 41.0)
    assert above.endswith("here the gradient from 9 words back is already 41, above 1.")
    assert "has not" not in above
    assert wording.exploding_sentence(1.0, 9, 0.13).endswith("move the scale to see it.")


def test_per_word_sentence_turns_the_measured_share_into_a_slope():
    rows = [{"label": "the RNN", "arch": "rnn", "kept": 0.30}, {"label": "the LSTM", "arch": "lstm", "kept": 0.17}]
    assert wording.per_word_sentence(rows, 6) == (
        "Per word that is about 0.82 for the RNN and 0.74 for the LSTM's belt: type those as slopes to compare."
    )
    assert wording.per_word_sentence(rows, 0) is None
