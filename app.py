"""Memory Lab: explore how RNN, LSTM and GRU language models remember earlier words.

Run with ``streamlit run app.py``. Models are read from the folder named by the
environment variable MEMORY_LAB_CHECKPOINTS (default ``checkpoints``); every
sub-folder that holds a checkpoint can be picked in the sidebar. Works offline.
"""

from model.cli.common import set_offline_defaults
from model.core.runtime import tune_process

set_offline_defaults()  # before anything imports `datasets`
tune_process()  # allocator thresholds and oneDNN kernel cache for the exact analyses (model/core/runtime.py); before any torch work

from ui.main import main  # noqa: E402

main()
