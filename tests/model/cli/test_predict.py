"""`python -m model.predict`: top-k next words, seeded generation, joining tokens, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from text_fixtures import ROOT

from model.cli import predict
from model.core.checkpoint import load_checkpoint
from model.core.generation import append_continuation, generate, join_tokens, next_word_log_probs, top_k_next_words


@pytest.fixture(scope="module")
def gru(tiny_checkpoints):
    return load_checkpoint(tiny_checkpoints["gru"])


def test_top_k_is_sorted_sums_to_at_most_one_and_matches_the_model(gru):
    top = top_k_next_words(gru.model, gru.tokenizer, "Mrs. Mary said that the tea was cold , so", 5)
    probabilities = [probability for _, probability in top]
    assert len(top) == 5 and probabilities == sorted(probabilities, reverse=True)
    assert 0.0 < sum(probabilities) <= 1.0 + 1e-6
    log_probs = next_word_log_probs(gru.model, gru.tokenizer, ["Mrs. Mary said that the tea was cold , so"])[0]
    assert top[0] == (gru.tokenizer.id_to_token(int(log_probs.argmax())), pytest.approx(float(log_probs.max().exp())))
    assert top[0][0] in {"his", "her"}  # the tiny model learned its corpus: "..., so his/her friend came"


def test_top_k_larger_than_the_vocabulary_gives_all_words(gru):
    top = top_k_next_words(gru.model, gru.tokenizer, "", 10_000)
    assert len(top) == gru.tokenizer.vocab_size
    assert sum(p for _, p in top) == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="at least 1"):
        top_k_next_words(gru.model, gru.tokenizer, "Mr. John", 0)


def test_generate_is_reproducible_with_a_seed_and_never_emits_unk(gru):
    first = generate(gru.model, gru.tokenizer, "Mr. John", 30, temperature=1.5, seed=7)
    assert first == generate(gru.model, gru.tokenizer, "Mr. John", 30, temperature=1.5, seed=7)
    assert first != generate(gru.model, gru.tokenizer, "Mr. John", 30, temperature=1.5, seed=8)
    assert "<unk>" not in first and first == first.lstrip()


def test_generate_rejects_bad_settings(gru):
    for temperature in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="temperature"):
            generate(gru.model, gru.tokenizer, "Mr. John", 3, temperature=temperature)
    with pytest.raises(ValueError, match="at least 1"):
        generate(gru.model, gru.tokenizer, "Mr. John", 0)


def test_low_temperature_follows_the_most_probable_word(gru):
    text = "Mr. John said that the road was long , so"
    best = top_k_next_words(gru.model, gru.tokenizer, text, 1)[0][0]
    assert generate(gru.model, gru.tokenizer, text, 1, temperature=1e-3, seed=0) == best


def test_join_tokens():
    assert join_tokens(["Mr", ".", "Robert", ",", "who", "don", "'", "t", "care", "!"]) == "Mr. Robert, who don't care!"
    assert (
        join_tokens(["to", "-", "day", "(", "so", ")", "said", '"', "Yes", ",", '"', "and"])
        == 'to-day (so) said "Yes," and'
    )
    assert join_tokens(["end", ".", "<eos>", "Next"]) == "end.\n\nNext"
    assert append_continuation("Mr", ". Robert") == "Mr. Robert"
    assert append_continuation("Mr.", "Robert") == "Mr. Robert"
    assert append_continuation("", "Robert") == "Robert"


def test_cli_json_marks_unknown_words_and_generates(capsys, tiny_checkpoints):
    argv = [tiny_checkpoints["lstm"], "Mr. Zebedee said", "--top-k", "3", "--generate", "5", "--seed", "2", "--json"]
    assert predict.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["unknown_words"] == ["Zebedee"]
    assert len(result["top_k"]) == 3 and set(result["top_k"][0]) == {"word", "probability"}
    assert result["generated"]["tokens"] == 5 and result["generated"]["continuation"]
    assert predict.main(argv) == 0
    assert json.loads(capsys.readouterr().out) == result  # seeded: the same continuation again


def test_cli_table_and_validation(capsys, tiny_checkpoints, tmp_path):
    assert predict.main([tiny_checkpoints["rnn"], "Mrs. Mary", "--top-k", "2"]) == 0
    out = capsys.readouterr().out
    assert "next word after 'Mrs. Mary'" in out and "  1. " in out and "  3. " not in out
    for flags in (["--top-k", "0"], ["--temperature", "0"], ["--temperature", "-2"], ["--generate", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            predict.main([tiny_checkpoints["rnn"], "Mr. John", *flags])
        assert exit_info.value.code == 2
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        predict.main([str(tmp_path / "missing"), "Mr. John"])
    assert exit_info.value.code == 2 and capsys.readouterr().err.startswith("error: Checkpoint folder not found")


@pytest.mark.slow
def test_help_runs_as_a_module():
    completed = subprocess.run(
        [sys.executable, "-m", "model.predict", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0 and "--temperature" in completed.stdout and "--top-k" in completed.stdout
