"""What the app's Next word tab should show for a sentence, computed directly from the checkpoints.

The browser tests and the app benches compare the page with this: the words after
the app's own text checks (ui.services.text_checks: invisible characters removed, long texts
cut to ui.settings.MAX_WORDS words) and the top-1 next word from
model.predict.top_k_next_words on the same checkpoint folder.
"""

from __future__ import annotations

import os
from typing import Any

from model.core.checkpoint import Checkpoint, load_checkpoint
from model.core.generation import top_k_next_words
from ui.services.presets import next_word_row
from ui.services.text_checks import check_text


class Oracle:
    """Loads each checkpoint under a folder once and answers "what should the page show".

    Args:
        root: the folder the app reads (MEMORY_LAB_CHECKPOINTS); models are named by sub-folder.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self._checkpoints: dict[str, Checkpoint] = {}

    def checkpoint(self, model: str) -> Checkpoint:
        """The loaded checkpoint of sub-folder ``model`` (cached)."""
        if model not in self._checkpoints:
            self._checkpoints[model] = load_checkpoint(os.path.join(self.root, model))
        return self._checkpoints[model]

    def expected(self, text: str, models: list[str]) -> dict[str, dict[str, Any]]:
        """The words and the top-1 next word each model's column should show for ``text``.

        Args:
            text: what is typed into the sentence box.
            models: sub-folder names shown on the page.

        Returns:
            model -> {"words": the tokens read at the position the tab opens at (ui.services.presets.next_word_row),
            "top1": the word predicted there, "probability": its probability}.

        Raises:
            ValueError: the app would refuse the text (empty or only punctuation).
        """
        result = {}
        for model in models:
            checkpoint = self.checkpoint(model)
            checked = check_text(text, checkpoint.tokenizer)
            if not checked.ok:
                raise ValueError(
                    f"The app refuses this text ({checked.problem}); got {text!r}. Use a sentence with words."
                )
            encoded = checkpoint.tokenizer.encode(checked.text)
            # The tab opens at the sentence's lesson word ("his" after "Mr. Robert ... with"), else after the text.
            row = next_word_row(list(encoded.tokens), checked.text)
            prefix = checked.text[: encoded.offsets[row - 1][1]] if row > 0 else ""
            word, probability = top_k_next_words(checkpoint.model, checkpoint.tokenizer, prefix, 1)[0]
            result[model] = {"words": list(encoded.tokens[:row]), "top1": word, "probability": probability}
        return result
