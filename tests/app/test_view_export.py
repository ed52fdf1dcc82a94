"""Export view: the per-word CSV and the whole analysis as JSON, downloadable."""

from __future__ import annotations

import io
import json
import math

import pandas as pd
import pytest
from app_helpers import SEED, exception_free, open_app


def test_csv_and_json_downloads(app_models, downloads):
    at = exception_free(open_app("Export"))
    labels = [button.label for button in at.get("download_button")]
    assert labels == ["Download the per-word table (CSV)", "Download the whole analysis (JSON)"]
    assert any("Open any other tab first" in info.value for info in at.info)  # no chart drawn yet in this session
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


def test_download_buttons_do_not_rerun_on_click():
    # A rerun on click re-registered the deferred JSON file, so a JSON click right after the CSV found nothing.
    import ast
    import inspect

    from ui.views import export as view_export

    calls = [
        node
        for node in ast.walk(ast.parse(inspect.getsource(view_export)))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "download_button"
    ]
    assert len(calls) == 4
    for call in calls:
        assert any(k.arg == "on_click" and getattr(k.value, "value", None) == "ignore" for k in call.keywords), (
            ast.unparse(call)
        )


@pytest.mark.slow
def test_every_drawn_chart_saves_as_svg_and_png(app_models, downloads):
    import struct
    import xml.etree.ElementTree as ElementTree

    at = exception_free(open_app("Next word"))
    at.session_state["view"] = "Export"
    at.run()
    exception_free(at)
    picker = at.selectbox(key="export_chart")
    assert "Probability each model gave the word that actually came" in picker.options
    assert "tiny-lstm: top 10 next words" in picker.options
    drawn = at.session_state["_memory_lab_drawn_charts"]
    assert len(drawn) == len(picker.options) == 4
    for option in list(drawn):
        picker.set_value(option).run()
        exception_free(at)
        safe = "".join(c if c.isalnum() else "-" for c in option).strip("-")
        svg = downloads[f"memory-lab-{safe}.svg"]()
        root = ElementTree.fromstring(svg)
        assert root.tag.endswith("svg") and float(root.get("width")) > 50
        png = downloads[f"memory-lab-{safe}.png"]()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
        assert width > 100 and height > 50
        texts = " ".join(element.text or "" for element in root.iter() if element.tag.endswith("text"))
        assert drawn[option]["title"] in texts  # the chart's own title, drawn into the picture
