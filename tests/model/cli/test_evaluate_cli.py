"""`python -m model.evaluate`: perplexity, pairs and the pronoun suite, in-process through main(argv)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from text_fixtures import ROOT, patterned_paragraphs

from data.corpus import split_paragraphs
from data.pronoun_suite import SUITE_GROUPS
from model.cli import evaluate
from model.core.checkpoint import load_checkpoint
from model.evaluation.pairs import read_pairs_tsv, score_pairs
from model.evaluation.scoring import perplexity, stream_loss

PAIRS = "group\tprefix\tgood\tbad\tnote\nagree\tMr. John said so , and\this\ther\ta\nagree\tMrs. Mary said so , and\ther\this\tb\nmissing\tMr. John said\tzebra\ther\tc\n"


@pytest.fixture()
def pairs_file(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text(PAIRS, encoding="utf-8")
    return str(path)


@pytest.fixture()
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("\n\n".join(patterned_paragraphs(12, seed=5)) + "\n", encoding="utf-8")
    return str(path)


def run_json(capsys, argv):
    assert evaluate.main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow  # a fresh Python imports torch: 2-3 s
def test_help_runs_as_a_module():
    completed = subprocess.run(
        [sys.executable, "-m", "model.evaluate", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0
    assert "--pairs" in completed.stdout and "--suite" in completed.stdout


def test_text_perplexity_matches_stream_loss(capsys, tiny_checkpoints, text_file):
    report = run_json(capsys, [tiny_checkpoints["lstm"], "--text", text_file])["checkpoints"][0]
    checkpoint = load_checkpoint(tiny_checkpoints["lstm"])
    with open(text_file, encoding="utf-8") as stream:
        paragraphs = split_paragraphs(stream.read())
    ids = torch.tensor([i for p in checkpoint.tokenizer.iter_ids(paragraphs) for i in p])
    loss = stream_loss(checkpoint.model, ids, 16, 128)
    assert report["text"]["tokens"] == ids.numel() and report["text"]["paragraphs"] == 12
    assert report["text"]["loss"] == pytest.approx(loss, rel=1e-6)
    assert report["text"]["perplexity"] == pytest.approx(perplexity(loss), rel=1e-6)
    assert 1.0 < report["text"]["perplexity"] < checkpoint.tokenizer.vocab_size  # it learned something


def test_pairs_json_schema_and_numbers(capsys, tiny_checkpoints, pairs_file):
    report = run_json(capsys, [tiny_checkpoints["gru"], "--pairs", pairs_file])["checkpoints"][0]
    pairs = report["pairs"]
    assert set(pairs) == {"overall", "groups", "unknown_words", "file"}
    assert set(pairs["overall"]) == {"n", "accuracy"} and pairs["overall"]["n"] == 2
    assert set(pairs["groups"]) == {"agree"} and set(pairs["groups"]["agree"]) == {"n", "accuracy", "mean_margin"}
    assert pairs["unknown_words"] == ["zebra"]
    checkpoint = load_checkpoint(tiny_checkpoints["gru"])
    direct = score_pairs(checkpoint.model, checkpoint.tokenizer, read_pairs_tsv(pairs_file))
    assert pairs["groups"]["agree"]["mean_margin"] == pytest.approx(direct["groups"]["agree"]["mean_margin"], abs=1e-6)


def test_suite_json_has_every_bucket_and_a_swap_section(capsys, tiny_checkpoints):
    report = run_json(capsys, [tiny_checkpoints["lstm"], "--suite", "pronoun", "--templates-per-bucket", "4"])[
        "checkpoints"
    ][0]
    assert [key for key in report if key.startswith("suite")] == ["suite:pronoun"]  # one key format for every suite
    suite = report["suite:pronoun"]
    assert list(suite["groups"]) == list(SUITE_GROUPS) == list(suite["swap"])
    for group in SUITE_GROUPS:
        assert suite["groups"][group]["n"] == 8
        assert set(suite["swap"][group]) == {"n_templates", "right_sign_rate", "mean_effect"}
        assert suite["swap"][group]["n_templates"] == 4
        assert 0.0 <= suite["swap"][group]["right_sign_rate"] <= 1.0
    # The tiny corpus has only six names of each gender and no weather: most suite words are unknown.
    assert {"Thomas", "Harriet", "rain"} <= set(suite["unknown_template_words"])
    assert "John" not in suite["unknown_template_words"]


def test_several_checkpoints_and_the_human_table(capsys, tiny_checkpoints, pairs_file):
    result = run_json(capsys, [tiny_checkpoints["rnn"], tiny_checkpoints["lstm"], "--pairs", pairs_file])
    assert [entry["name"] for entry in result["checkpoints"]] == ["tiny-rnn", "tiny-lstm"]
    assert evaluate.main([tiny_checkpoints["rnn"], "--suite", "pronoun", "--templates-per-bucket", "3"]) == 0
    out = capsys.readouterr().out
    assert "pronoun d25-45" in out and "swap right sign" in out and "suite words read as <unk>" in out


def expect_error(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_errors_are_one_line_messages(capsys, tiny_checkpoints, tmp_path, text_file, pairs_file):
    expect_error(capsys, [str(tmp_path / "nowhere"), "--text", text_file], "Checkpoint folder not found")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_checkpoints["rnn"], broken)
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    expect_error(capsys, [str(broken), "--pairs", pairs_file], "not valid JSON")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n", encoding="utf-8")
    expect_error(capsys, [tiny_checkpoints["rnn"], "--text", str(empty)], "holds no text")
    expect_error(capsys, [tiny_checkpoints["rnn"], "--text", str(tmp_path / "missing.txt")], "Text file not found")
    bad = tmp_path / "bad.tsv"
    bad.write_text("group\tprefix\tgood\tbad\ng\tMr. John\this\n", encoding="utf-8")
    expect_error(capsys, [tiny_checkpoints["rnn"], "--pairs", str(bad)], "line 2")
    expect_error(capsys, [tiny_checkpoints["rnn"]], "Nothing to evaluate")
    assert os.path.isdir(tiny_checkpoints["rnn"])  # errors leave the shared checkpoint alone


def test_suite_all_scores_every_builtin_suite(capsys, tiny_checkpoints):
    assert evaluate.main([tiny_checkpoints["lstm"], "--suite", "all", "--templates-per-bucket", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["checkpoints"][0]
    assert {"suite:agreement", "suite:relative_clause", "suite:pronoun"} <= set(report)
    for key in ("suite:agreement", "suite:relative_clause", "suite:pronoun"):
        result = report[key]
        # The tiny vocabulary lacks most template words: they are reported, never scored as <unk>.
        assert "unknown_template_words" in result and result["overall"]["n"] >= 0
        assert set(result["overall"]) == {"n", "accuracy"}
