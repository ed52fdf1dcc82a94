"""Export view: the per-word CSV and the whole analysis as JSON, downloadable."""
from __future__ import annotations

import io
import json
import math

import pandas as pd

from app_helpers import SEED, exception_free, open_app


def test_csv_and_json_downloads(app_models, downloads):
    at = exception_free(open_app("Export"))
    labels = [button.label for button in at.get("download_button")]
    assert labels == ["Download the per-word table (CSV)", "Download the whole analysis (JSON)"]
    assert any("Download as PNG" in info.value for info in at.info)
    csv_name = next(name for name in downloads if name.endswith(".csv"))
    table = pd.read_csv(io.BytesIO(downloads[csv_name]))
    assert len(table) == 3 * 16 and set(table["model"]) == {"tiny-rnn", "tiny-lstm", "tiny-gru"}
    assert table["probability"].between(0, 1).all()
    shown = at.dataframe[0].value
    assert math.isclose(shown["probability"].iloc[5], table["probability"].iloc[5], rel_tol=1e-9)
    json_name = next(name for name in downloads if name.endswith(".json"))
    build = downloads[json_name]
    assert callable(build)  # built on click, not on every rerun
    bundle = json.loads(build())
    assert bundle["text"] == SEED and set(bundle["models"]) == {"tiny-rnn", "tiny-lstm", "tiny-gru"}
    lstm = bundle["models"]["tiny-lstm"]
    assert lstm["schema"] == "memory-lab/analysis/1"
    assert lstm["target"]["description"] == "log P('his') - log P('her')"
    assert len(lstm["influence"]["matrix"]) == 16
    assert lstm["memory_span"]["definition"].startswith("Memory span")
