"""Models view: a card per checkpoint read from its metrics.json and config.json."""

from __future__ import annotations

import json
import os

from app_helpers import assert_charts_drawn, chart_titled, exception_free, open_app, plain

MODELS = ["tiny-rnn", "tiny-lstm", "tiny-gru"]  # the app_models fixture, in sidebar order


def test_model_cards_show_the_metrics(app_models):
    at = exception_free(open_app("Models"))
    assert_charts_drawn(
        at, [f"{model}: {what} during training" for model in MODELS for what in ("perplexity", "gradient norm")]
    )
    folders = at.dataframe[0].value
    assert list(folders["folder"]) == ["tiny-rnn", "tiny-lstm", "tiny-gru"] and (folders["usable"] == "yes").all()
    with open(os.path.join(app_models, "tiny-lstm", "metrics.json"), encoding="utf-8") as stream:
        metrics = json.load(stream)
    card = at.table[1].value["value"]  # rnn, lstm, gru cards in order
    assert card["Architecture"] == "LSTM"
    assert card["Parameters"] == f"{metrics['parameters']:,}"
    assert card["Validation perplexity"] == f"{metrics['valid_ppl']:,.1f}"
    assert card["Gradient clipping"] == "global norm ≤ 0.5"
    train_tokens = metrics["tokens"]["train"]
    assert plain(card["Training text"]) == f"{metrics['corpus']}, {train_tokens / 1e6:,.2f}M tokens"
    assert card["Tokens read"] == f"{metrics['epochs'] * train_tokens / 1e6:,.2f}M tokens"
    curve = chart_titled(at, "tiny-lstm: perplexity during training")["data"]
    assert sorted(curve["perplexity"][curve["split"] == "valid (held out)"]) == sorted(
        r["ppl"] for r in metrics["validation"]
    )


def test_a_two_stage_model_shows_its_whole_history(app_models):
    # The shipped LSTM's recipe: stage 1 kept under "pretraining", stage 2 at the top level.
    path = os.path.join(app_models, "tiny-lstm", "metrics.json")
    with open(path, encoding="utf-8") as stream:
        metrics = json.load(stream)
    stage1 = dict(metrics, epochs=8.0, steps=4704, total_steps_trained=4704, wall_time_seconds=1860.0)
    stage1.update(corpus="big*corpus", tokens={"train": 24_250_000})  # a name with Markdown in it
    stage1["train_config"] = dict(metrics["train_config"], bptt=70)
    stage1.pop("pretraining", None)
    metrics.update(epochs=1.0, steps=206, total_steps_trained=206, wall_time_seconds=204.0, pretraining=stage1)
    metrics["train_config"] = dict(metrics["train_config"], bptt=200, init_from="stage1")
    with open(path, "w", encoding="utf-8") as stream:
        json.dump(metrics, stream)
    at = exception_free(open_app("Models"))
    card = at.table[1].value["value"]
    assert card["Training steps (all stages)"] == "4,910" and card["Epochs (all stages)"] == "9.00"
    assert card["Training time (all stages)"] == f"{(1860.0 + 204.0) / 60:.1f} min"
    stages = plain(card["Training stages"])
    small = metrics["tokens"]["train"]
    assert plain(card["Training text"]) == (
        f"big*corpus, 24.25M tokens (stage 1 of 2); {metrics['corpus']}, {small / 1e6:,.2f}M tokens (stage 2 of 2)"
    )
    assert "big\\*corpus" in card["Training text"]  # escaped: shown literally, not as emphasis
    assert card["Tokens read (all stages)"] == f"{(8 * 24_250_000 + small) / 1e6:,.2f}M tokens"
    assert stages.startswith("stage 1 of 2: 8 epochs at BPTT 70") and "stage 2 of 2: 1 epoch at BPTT 200" in stages
    curve = chart_titled(at, "tiny-lstm: perplexity during training")["data"]
    assert set(curve["stage"]) == {"stage 1 of 2", "stage 2 of 2"}
    assert (
        curve[curve["stage"] == "stage 2 of 2"]["step"].min()
        > curve[curve["stage"] == "stage 1 of 2"]["step"].max() - 1
    )
