"""The project's .streamlit/config.toml is what `streamlit run app.py` reads from the repository root."""

from __future__ import annotations

import os

from streamlit import config

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_app_runs_offline_without_the_post_script_collection(monkeypatch):
    monkeypatch.chdir(REPOSITORY)
    config.get_config_options(force_reparse=True)
    try:
        assert config.get_option("browser.gatherUsageStats") is False
        # gc.collect(2) after every rerun holds the interpreter lock while it walks every object of a process with
        # torch and the models loaded, which delays the message that ends the page's running state
        # (python -m bench.app_latency --compare-post-script-gc measures it).
        assert config.get_option("runner.postScriptGC") is False
    finally:
        config.get_config_options(force_reparse=True)
