"""The signed methods against the gradient norm over a cue's parts."""

from __future__ import annotations

import pytest

from model.analysis.influence.spans import compare_with_gradient_norm

NAMES = {
    "swap": "the exact swap",
    "occlusion": "occlusion",
    "ig": "integrated gradients",
    "gradxinput": "gradient × input",
}


def _rows(values: dict[str, dict[str, float]]) -> list[dict]:
    return [
        {"span": span, "method": method, "value": value}
        for span, by_method in values.items()
        for method, value in by_method.items()
    ]


def test_the_seed_lstm_numbers_disagree():
    # The shipped LSTM on the seed sentence (span_attribution, rounded).
    rows = _rows(
        {
            "Mr.": {"swap": 1.05, "occlusion": 0.20, "ig": -0.06, "gradxinput": 0.08, "grad": 0.65},
            "Robert": {"swap": 0.45, "occlusion": -0.32, "ig": -0.18, "gradxinput": -0.80, "grad": 1.59},
            "Mr. Robert": {"swap": 1.66, "occlusion": -0.13, "ig": -0.37, "gradxinput": -1.27, "grad": 1.78},
        }
    )
    result = compare_with_gradient_norm(rows, ["Mr.", "Robert"])
    assert result.norm_top == "Robert" and not result.agree and result.agreeing == ()
    assert [method for method, _, _ in result.disagreeing] == ["swap", "occlusion", "ig", "gradxinput"]
    assert result.sentence(NAMES, "his", "her") == (
        "The signed methods disagree with the gradient norm, which ranks “Robert” first: occlusion (−0.32), integrated "
        "gradients (−0.18) and gradient × input (−0.80) say “Robert” lowers his over her; the exact swap ranks “Mr.” first."
    )


def test_agreement_and_bad_input():
    rows = _rows(
        {"Mrs.": {"swap": 0.3, "occlusion": 0.1, "grad": 0.5}, "Mary": {"swap": 2.0, "occlusion": 1.5, "grad": 1.2}}
    )
    result = compare_with_gradient_norm(rows, ["Mrs.", "Mary"])
    assert result.agree and result.agreeing == ("swap", "occlusion") and result.norm_top == "Mary"
    assert result.sentence(NAMES, "her", "his").startswith("The methods agree: the gradient norm ranks “Mary” first")
    # One part only: disagreement means the signed value is not positive.
    single = compare_with_gradient_norm(_rows({'"': {"swap": 5.0, "occlusion": -0.2, "grad": 0.9}}), ['"'])
    assert single.agreeing == ("swap",) and single.disagreeing == (("occlusion", -0.2, '"'),) and single.single
    assert single.sentence(NAMES, '"', "<eos>") == (
        'The signed methods disagree about “"”: occlusion (−0.20) says it lowers " over <eos>, though the gradient norm '
        "shows the prediction is sensitive to it."
    )
    assert compare_with_gradient_norm(_rows({"letters": {"swap": 0.4, "grad": 2.0}}), ["letters"]).sentence(
        NAMES, "were", "was"
    ) == ("The methods agree: every signed method says “letters” raises were over was.")
    with pytest.raises(ValueError, match="at least one span"):
        compare_with_gradient_norm(rows, [])
    with pytest.raises(ValueError, match="No gradient norm"):
        compare_with_gradient_norm(_rows({"Mr.": {"swap": 1.0}}), ["Mr."])
