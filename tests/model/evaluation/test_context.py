"""Effective context: flat for a model that ignores context, positive where context matters, batched right."""

from __future__ import annotations

import json

import pytest
import torch

from model.cli.context import main
from model.core.checkpoint import load_checkpoint
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel
from model.evaluation.effective_context import build_contexts, effective_context, last_token_losses, text_stream


def _memoryless_rnn(vocab_size: int) -> LanguageModel:
    """An RNN whose recurrent weights are zero: each output depends on the current word only."""
    torch.manual_seed(1)
    model = LanguageModel(
        ModelConfig(arch="rnn", vocab_size=vocab_size, embedding_size=8, hidden_size=8, dropout=0.0, decoder="full")
    )
    with torch.no_grad():
        model.recurrent.weight_hh_l0.zero_()
    return model.eval()


def test_contexts_perturb_only_the_far_part():
    stream = torch.arange(100)  # [S], token i is i, so every position is recognisable
    positions = torch.tensor([40, 99])
    generator = torch.Generator().manual_seed(0)
    for perturbation in ("shuffle", "replace"):
        ids, lengths = build_contexts(stream, positions, [1, 5], perturbation, 30, generator)
        assert ids.shape == (4, 30) and lengths.tolist() == [30] * 4
        assert ids[1, -5:].tolist() == list(range(35, 40))  # position 40, d = 5: the near part intact
        assert ids[3, -1:].tolist() == [98]
    shuffled, _ = build_contexts(stream, positions, [5], "shuffle", 30, generator)
    assert sorted(shuffled[0, :25].tolist()) == list(range(10, 35))  # same far tokens, new order
    assert shuffled[0, :25].tolist() != list(range(10, 35))
    dropped, lengths = build_contexts(stream, positions, [5], "drop", 30, generator)
    assert lengths.tolist() == [5, 5] and dropped[0, :5].tolist() == list(range(35, 40))


def test_right_padding_does_not_change_the_last_real_output():
    model = LanguageModel(
        ModelConfig(arch="lstm", vocab_size=20, embedding_size=6, hidden_size=7, dropout=0.0, decoder="full")
    ).eval()
    ids = torch.randint(2, 20, (3, 12))  # [R, C]
    lengths = torch.tensor([5, 12, 8])
    targets = torch.randint(0, 20, (3,))
    batched = last_token_losses(model, ids, lengths, targets)  # one right-padded batch
    for row in range(3):
        alone = last_token_losses(
            model, ids[row : row + 1, : lengths[row]], lengths[row : row + 1], targets[row : row + 1]
        )
        torch.testing.assert_close(batched[row : row + 1], alone)


def test_a_model_that_ignores_context_has_a_flat_zero_curve():
    stream = torch.randint(0, 30, (2000,))
    result = effective_context(_memoryless_rnn(30), stream, distances=[1, 2, 5, 20, 60], positions=40, seed=3)
    assert result.positions == 40 and result.context_length == 110
    for perturbation, curve in result.increase.items():
        assert max(abs(value) for value in curve) < 1e-5, perturbation


def test_a_model_with_memory_loses_when_nearby_context_goes(tiny_checkpoints, corpus_dir):
    checkpoint = load_checkpoint(tiny_checkpoints["lstm"])
    with open(f"{corpus_dir}/valid.txt", encoding="utf-8") as handle:
        stream = text_stream(checkpoint.tokenizer, handle.read())
    result = effective_context(checkpoint.model, stream, distances=[1, 2, 30], positions=60, context_length=40, seed=0)
    # Dropping all but the last word hurts a trained model; keeping 30 words loses far less.
    assert result.increase["drop"][0] > 0.2
    assert result.increase["drop"][0] > result.increase["drop"][2] + 0.1
    assert result.baseline_loss > 0


def test_bad_arguments_name_the_rule():
    stream = torch.randint(0, 30, (300,))
    model = _memoryless_rnn(30)
    with pytest.raises(ValueError, match="below the context length"):
        effective_context(model, stream, distances=[5, 50], context_length=50)
    with pytest.raises(ValueError, match="tokens of history"):
        effective_context(model, stream, distances=[5, 500])
    with pytest.raises(ValueError, match="training mode"):
        last_token_losses(model.train(), torch.zeros(1, 3, dtype=torch.long), torch.tensor([3]), torch.tensor([0]))


def test_cli_prints_json_for_each_checkpoint(tiny_checkpoints, corpus_dir, capsys):
    code = main(
        [
            tiny_checkpoints["rnn"],
            tiny_checkpoints["lstm"],
            "--text",
            f"{corpus_dir}/test.txt",
            "--positions",
            "10",
            "--distances",
            "1",
            "5",
            "--context-length",
            "20",
            "--json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert [entry["name"] for entry in report["checkpoints"]] == ["tiny-rnn", "tiny-lstm"]
    assert set(report["checkpoints"][0]["increase"]) == {"drop", "shuffle", "replace"}
    assert len(report["checkpoints"][1]["increase"]["shuffle"]) == 2


def test_cli_refuses_a_missing_text(tiny_checkpoints, capsys):
    with pytest.raises(SystemExit) as stop:
        main([tiny_checkpoints["rnn"], "--text", "/no/such/file.txt"])
    assert stop.value.code == 2
    assert "not found" in capsys.readouterr().err


def test_save_stores_the_result_in_metrics_and_it_reads_back(tiny_checkpoints, corpus_dir, tmp_path, capsys):
    import shutil

    from model.evaluation.effective_context import ContextResult

    folder = tmp_path / "copy"
    shutil.copytree(tiny_checkpoints["lstm"], folder)
    before = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    code = main(
        [
            str(folder),
            "--text",
            f"{corpus_dir}/test.txt",
            "--positions",
            "6",
            "--distances",
            "1",
            "3",
            "--context-length",
            "10",
            "--save",
            "--json",
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)["checkpoints"][0]
    after = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    stored = after.pop("effective_context")
    assert after == before  # nothing else in metrics.json changed
    assert (
        stored["text"] == "test.txt"
        and len(stored["text_sha256"]) == 64
        and stored["command"][:3] == ["python", "-m", "model.context"]
    )
    result = ContextResult.from_dict(stored)
    assert result.increase == printed["increase"] and result.distances == [1, 3] and result.positions == 6
    load_checkpoint(str(folder))  # still a valid checkpoint
    with pytest.raises(ValueError, match="Not an effective-context result"):
        ContextResult.from_dict({"distances": [1]})
