"""Generate view: each model's continuation is model.predict.generate's, for the prompt, temperature and seed shown."""

from __future__ import annotations

import os

from app_helpers import SEED, captions, exception_free, open_app, plain

from model.core.checkpoint import load_checkpoint
from model.core.generation import generate
from ui.views.generate import model_seed
from ui.widgets.markup import md


def _shown(at) -> str:
    return " ".join(plain(element.value) for element in at.markdown)


def test_each_model_continues_the_prompt(app_models):
    at = exception_free(open_app("Generate"))
    prompt = at.text_input(key="generate_prompt").value
    assert prompt == "Mr. Robert is going on a vacation with"  # the sentence up to its lesson word
    temperature, words, seed = at.slider(key="generate_temperature").value, at.slider(key="generate_words").value, 0
    for index, arch in enumerate(("rnn", "lstm", "gru")):
        checkpoint = load_checkpoint(os.path.join(app_models, f"tiny-{arch}"))
        expected = generate(
            checkpoint.model, checkpoint.tokenizer, prompt, words, temperature=temperature, seed=model_seed(seed, index)
        )
        assert f"{md(prompt)} **{md(expected.replace(chr(10), ' ¶ '))}**" in [
            element.value for element in at.markdown
        ], arch
    assert "softmax(scores ÷ 0.8)" in captions(at)
    # Another draw, and another temperature: the texts are the sampler's for those settings.
    at.button(key="generate_again").click().run()
    exception_free(at)
    assert at.number_input(key="generate_seed").value == 1
    at.slider(key="generate_temperature").set_value(1.5).run()
    checkpoint = load_checkpoint(os.path.join(app_models, "tiny-gru"))
    expected = generate(checkpoint.model, checkpoint.tokenizer, prompt, words, temperature=1.5, seed=model_seed(1, 2))
    assert plain(f"**{md(expected.replace(chr(10), ' ¶ '))}**") in _shown(at)


def test_a_new_sentence_brings_its_prompt_and_an_empty_prompt_works(app_models):
    at = exception_free(open_app("Generate", text="It was a dark and stormy night"))
    assert at.text_input(key="generate_prompt").value == "It was a dark and stormy night"
    at.text_input(key="generate_prompt").set_value("").run()
    exception_free(at)
    assert (
        len([element for element in at.markdown if element.value.startswith("**") and "(" not in element.value[:3]])
        >= 3
    )
    at.text_input(key="text").set_value(SEED).run()
    assert at.text_input(key="generate_prompt").value == "Mr. Robert is going on a vacation with"
