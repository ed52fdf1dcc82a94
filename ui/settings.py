"""Constants of the app: where checkpoints live, the default sentence, input limits."""

from __future__ import annotations

import os

CHECKPOINTS_ENV = "MEMORY_LAB_CHECKPOINTS"
DEFAULT_CHECKPOINTS = "checkpoints"

SEED_SENTENCE = "Mr. Robert is going on a vacation with his wife to Hawaii next month."

# The views analyse at most this many words (tokens); longer texts are cut with a notice.
MAX_WORDS = 80
# Anything pasted beyond this many characters is dropped before tokenizing.
MAX_CHARS = 4000

# Model folders shown first, in this order, when they exist: the 19M-word models (issue 15); the 2M-word
# novels-* models stay in checkpoints/ for the data-size comparison.
PREFERRED_MODELS = ("novels19m-rnn", "novels19m-lstm", "novels19m-gru")

# Colours per architecture, used by every chart so a model keeps its colour across views.
ARCH_COLOURS = {"rnn": "#d62728", "lstm": "#1f77b4", "gru": "#2ca02c"}


def checkpoints_root() -> str:
    """The folder whose sub-folders are checkpoints (env MEMORY_LAB_CHECKPOINTS, default "checkpoints").

    Returns:
        An absolute path; relative values are taken from the repository root so
        ``streamlit run app.py`` works from any working directory.
    """
    root = os.environ.get(CHECKPOINTS_ENV, "").strip() or DEFAULT_CHECKPOINTS
    if not os.path.isabs(root):
        repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        root = os.path.join(repository, root)
    return os.path.abspath(root)
