"""Minimal pairs: batched next-word log-probs, TSV reading, scoring and the name-swap effect."""

from __future__ import annotations

import math

import pytest
import torch

from data.pronoun_suite import build_pronoun_suite, write_tsv
from model.core.checkpoint import load_checkpoint
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel
from model.evaluation.pairs import (
    PairRow,
    next_word_log_probs,
    read_pairs_tsv,
    rows_from_dicts,
    score_pairs,
    swap_effects,
)


@pytest.fixture(scope="module")
def lstm(tiny_checkpoints):
    return load_checkpoint(tiny_checkpoints["lstm"])


def by_hand(checkpoint, prefix: str, word: str) -> float:
    """log P(word | prefix), one unbatched forward over [<eos>] + prefix ids."""
    tokenizer = checkpoint.tokenizer
    ids = torch.tensor([[tokenizer.eos_id, *tokenizer.encode(prefix).ids]])  # [1, T + 1]
    with torch.no_grad():
        logits, _ = checkpoint.model(ids)  # [1, T + 1, V]
    return float(torch.log_softmax(logits[0, -1], dim=-1)[tokenizer.token_to_id(word)])


def test_batched_log_probs_match_one_prefix_at_a_time(lstm):
    prefixes = ["Mr. John said", "Mrs. Mary said that the tea was cold , so", "", "Robert"]
    log_probs = next_word_log_probs(lstm.model, lstm.tokenizer, prefixes, batch_size=3)  # [4, V]
    assert log_probs.shape == (4, lstm.tokenizer.vocab_size)
    assert torch.allclose(log_probs.exp().sum(dim=-1), torch.ones(4), atol=1e-5)
    for row, prefix in enumerate(prefixes):
        for word in ("his", "her", "friend"):
            assert log_probs[row, lstm.tokenizer.token_to_id(word)].item() == pytest.approx(
                by_hand(lstm, prefix, word), abs=1e-5
            )


def test_adaptive_decoder_gives_normalised_log_probs(lstm):
    config = ModelConfig(
        arch="gru",
        vocab_size=lstm.tokenizer.vocab_size,
        embedding_size=8,
        hidden_size=8,
        decoder="adaptive",
        adaptive_cutoffs=(10,),
    )
    model = LanguageModel(config).eval()  # a fresh, unshared model
    log_probs = next_word_log_probs(model, lstm.tokenizer, ["Mr. John", "Mrs. Mary said so"])  # [2, V]
    assert torch.allclose(torch.logsumexp(log_probs, dim=-1), torch.zeros(2), atol=1e-5)


def test_model_in_training_mode_is_refused(lstm):
    model = LanguageModel(lstm.config)  # fresh modules start in training mode
    with pytest.raises(ValueError, match="training mode"):
        next_word_log_probs(model, lstm.tokenizer, ["Mr. John"])


def test_score_pairs_numbers_match_a_hand_computation(lstm):
    rows = rows_from_dicts(
        [
            {"group": "a", "prefix": "Mr. John said so", "good": "his", "bad": "her"},
            {"group": "a", "prefix": "Mrs. Mary said so", "good": "her", "bad": "his"},
            {"group": "b", "prefix": "Mr. John said that the road was long ,", "good": "so", "bad": "friend"},
        ]
    )
    result = score_pairs(lstm.model, lstm.tokenizer, rows)
    assert set(result) == {"overall", "groups", "unknown_words"}  # no template/gender columns: no swap section
    margins = [by_hand(lstm, row.prefix, row.good) - by_hand(lstm, row.prefix, row.bad) for row in rows]
    assert result["overall"] == {"n": 3, "accuracy": pytest.approx(sum(m > 0 for m in margins) / 3)}
    assert result["groups"]["a"]["n"] == 2
    assert result["groups"]["a"]["mean_margin"] == pytest.approx((margins[0] + margins[1]) / 2, abs=1e-5)
    assert result["groups"]["a"]["accuracy"] == pytest.approx(sum(m > 0 for m in margins[:2]) / 2)
    assert result["groups"]["b"]["mean_margin"] == pytest.approx(margins[2], abs=1e-5)
    assert result["unknown_words"] == []


def test_unknown_or_multi_token_words_are_reported_and_not_scored(lstm):
    rows = rows_from_dicts(
        [
            {"group": "g", "prefix": "Mr. John said", "good": "his", "bad": "her"},
            {"group": "g", "prefix": "Mr. John said", "good": "zebra", "bad": "her"},
            {"group": "g", "prefix": "Mr. John said", "good": "his", "bad": "don't"},
            {"group": "h", "prefix": "Mrs. Mary said", "good": "zebra", "bad": "his"},
        ]
    )
    result = score_pairs(lstm.model, lstm.tokenizer, rows)
    assert result["unknown_words"] == ["zebra", "don't"]
    assert result["overall"]["n"] == 1
    assert result["groups"]["g"]["n"] == 1
    assert "h" not in result["groups"]  # its only row was not scored, never read as <unk>


def test_swap_effect_is_man_margin_plus_woman_margin(lstm):
    records = [
        {
            "group": "g",
            "prefix": "Mr. John said that the tea was cold , so",
            "good": "his",
            "bad": "her",
            "template": "t1",
            "gender": "man",
        },
        {
            "group": "g",
            "prefix": "Mrs. Mary said that the tea was cold , so",
            "good": "her",
            "bad": "his",
            "template": "t1",
            "gender": "woman",
        },
        {"group": "g", "prefix": "Mr. Robert said so", "good": "his", "bad": "her", "template": "t2", "gender": "man"},
        {"group": "g", "prefix": "Mrs. Anne said so", "good": "her", "bad": "his", "template": "t2", "gender": "woman"},
        {
            "group": "g",
            "prefix": "Mr. James said",
            "good": "his",
            "bad": "her",
            "template": "t3",
            "gender": "man",
        },  # no partner
    ]
    result = score_pairs(lstm.model, lstm.tokenizer, rows_from_dicts(records))
    effects = []
    for man, woman in ((records[0], records[1]), (records[2], records[3])):
        his_minus_her_after_man = by_hand(lstm, man["prefix"], "his") - by_hand(lstm, man["prefix"], "her")
        his_minus_her_after_woman = by_hand(lstm, woman["prefix"], "his") - by_hand(lstm, woman["prefix"], "her")
        effects.append(his_minus_her_after_man - his_minus_her_after_woman)
    swap = result["swap"]["g"]
    assert swap["n_templates"] == 2
    assert swap["mean_effect"] == pytest.approx(sum(effects) / 2, abs=1e-5)
    assert swap["right_sign_rate"] == pytest.approx(sum(e > 0 for e in effects) / 2)


def test_swap_effect_rejects_inconsistent_templates():
    man = PairRow("g", "Mr. John", "his", "her", {"template": "t", "gender": "man"})
    same_words = PairRow("g", "Mrs. Mary", "his", "her", {"template": "t", "gender": "woman"})
    with pytest.raises(ValueError, match="swap the man's words"):
        swap_effects([man, same_words], [1.0, 1.0])
    with pytest.raises(ValueError, match="two man's rows"):
        swap_effects([man, man], [1.0, 1.0])
    odd = PairRow("g", "Dr. Who", "his", "her", {"template": "u", "gender": "robot"}, line=7)
    with pytest.raises(ValueError, match="line 7.*gender"):
        swap_effects([odd], [1.0])
    woman = PairRow("g", "Mrs. Mary", "her", "his", {"template": "t", "gender": "female"})
    assert swap_effects([man, woman], [0.5, -0.2]) == {
        "g": {"n_templates": 1, "right_sign_rate": 1.0, "mean_effect": pytest.approx(0.3)}
    }


def test_read_pairs_tsv_keeps_extra_columns_and_order(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text(
        'prefix\tgood\tbad\tgroup\tnote\n"Quoted" Mr. John shook\this\ther\tg1\tfirst\n\nMrs. Mary\ther\this\tg2\t\n',
        encoding="utf-8",
    )
    rows = read_pairs_tsv(path)
    assert [(row.group, row.prefix, row.good, row.bad, row.extra, row.line) for row in rows] == [
        ("g1", '"Quoted" Mr. John shook', "his", "her", {"note": "first"}, 2),
        ("g2", "Mrs. Mary", "her", "his", {"note": ""}, 4),
    ]


@pytest.mark.parametrize(
    "content, message",
    [
        ("group\tprefix\tgood\n", "lacks the column.*bad"),
        ("group\tprefix\tgood\tbad\ng\tMr. John\this\n", "line 2: expected 4"),
        ("group\tprefix\tgood\tbad\ng\tMr. John\this\ther\ng\tMrs. Mary\t\this\n", "line 3: the good column is empty"),
        ("group\tprefix\tgood\tbad\ng\tMr. John\this\this\n", "same word"),
        ("group\tprefix\tgood\tbad\n", "no pairs"),
        ("", "empty"),
    ],
)
def test_read_pairs_tsv_rejects_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_pairs_tsv(path)


def test_read_pairs_tsv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        read_pairs_tsv(tmp_path / "nope.tsv")


def test_suite_tsv_round_trip_scores_like_the_rows_in_memory(lstm, tmp_path):
    records = build_pronoun_suite(seed=3, templates_per_bucket=2)
    write_tsv(records, tmp_path / "suite.tsv")
    from_file = read_pairs_tsv(tmp_path / "suite.tsv")
    in_memory = rows_from_dicts(records)
    assert [(r.group, r.prefix, r.good, r.bad, r.extra) for r in from_file] == [
        (r.group, r.prefix, r.good, r.bad, r.extra) for r in in_memory
    ]
    scored = score_pairs(lstm.model, lstm.tokenizer, from_file)
    assert set(scored["swap"]) == set(scored["groups"]) and all(v["n_templates"] == 2 for v in scored["swap"].values())
    assert all(math.isfinite(v["mean_margin"]) for v in scored["groups"].values())
