"""Models view: a card per checkpoint read from its metrics.json and config.json."""
from __future__ import annotations

import json
import os

from app_helpers import assert_every_chart_captioned, chart_titled, exception_free, open_app


def test_model_cards_show_the_metrics(app_models):
    at = exception_free(open_app("Models"))
    assert assert_every_chart_captioned(at) == 6
    folders = at.dataframe[0].value
    assert list(folders["folder"]) == ["tiny-rnn", "tiny-lstm", "tiny-gru"] and (folders["usable"] == "yes").all()
    with open(os.path.join(app_models, "tiny-lstm", "metrics.json"), encoding="utf-8") as stream:
        metrics = json.load(stream)
    card = at.table[1].value["value"]  # rnn, lstm, gru cards in order
    assert card["Architecture"] == "LSTM"
    assert card["Parameters"] == f"{metrics['parameters']:,}"
    assert card["Validation perplexity"] == f"{metrics['valid_ppl']:,.1f}"
    assert card["Gradient clipping"] == "global norm ≤ 0.5"
    curve = chart_titled(at, "tiny-lstm: perplexity during training")["data"]
    assert sorted(curve["perplexity"][curve["split"] == "valid (held out)"]) == sorted(r["ppl"] for r in metrics["validation"])
