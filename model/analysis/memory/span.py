"""Memory span: one number per model, read off the distance ladder.

Definition: the distance in words (tokens strictly between the source word and
the predicted word) at which a quantity - by default the contrast
log P(good) - log P(bad) - falls to half its value at the shortest distance.
Between two rungs the crossing is found by linear interpolation; if the
quantity never falls to half within the ladder the span is reported as
"> the longest distance".

A span is only read off an effect that is clearly there: when the contrast at the
shortest distance is below :data:`CLEAR_CONTRAST_NATS` (the right word less than
e ≈ 2.7 times as likely as its rival), the span is "none measurable". Halving a
small, flat curve would measure noise and lexical habit, not memory.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

# The smallest contrast log P(good) - log P(bad) at the shortest distance that counts as a clear effect, in nats.
CLEAR_CONTRAST_NATS = 1.0


@dataclass(frozen=True)
class MemorySpan:
    """A memory span with its definition, ready to show.

    Attributes:
        value: the span in words, or None (beyond the ladder or none measurable).
        beyond: True when the quantity never fell to half within the ladder.
        display: "23.5 words", "> 85 words" or "none measurable (...)".
        definition: one sentence saying what was measured.
        quantity: "contrast" or "influence".
        reference: the value at the shortest distance.
        measurable: the value at the shortest distance is clearly above zero (at least ``threshold``).
        threshold: the smallest value at the shortest distance that counts as an effect.
    """

    value: float | None
    beyond: bool
    display: str
    definition: str
    quantity: str
    reference: float
    measurable: bool = True
    threshold: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


def half_crossing(distances: Sequence[float], values: Sequence[float]) -> tuple[float | None, bool]:
    """Where ``values`` first falls to half of ``values[0]``, by linear interpolation.

    Args:
        distances: strictly increasing distances, one per rung.
        values: the quantity at each rung.

    Returns:
        (distance, beyond): (None, True) if it never falls to half; (None, False)
        if values[0] <= 0 (nothing to halve).

    Raises:
        ValueError: unequal lengths, no rungs, non-increasing distances or non-finite values.

    Example:
        >>> half_crossing([0, 10, 20], [4.0, 3.0, 1.0])
        (15.0, False)
    """
    if len(distances) != len(values) or not distances:
        raise ValueError(
            f"Need one value per distance and at least one rung; got {len(distances)} distances and {len(values)} values."
        )
    if any(later <= earlier for earlier, later in zip(distances, distances[1:])):
        raise ValueError(f"Ladder distances must increase strictly; got {list(distances)}.")
    if not all(math.isfinite(float(v)) for v in values):
        raise ValueError(f"Ladder values must be finite; got {list(values)}.")
    reference = float(values[0])
    if reference <= 0.0:
        return None, False
    half = reference / 2.0
    for index in range(1, len(values)):
        before, after = float(values[index - 1]), float(values[index])
        if after <= half:
            fraction = (before - half) / (before - after)  # before > half >= after, so 0 <= fraction <= 1
            return float(distances[index - 1] + fraction * (distances[index] - distances[index - 1])), False
    return None, True


def memory_span(
    distances: Sequence[float],
    values: Sequence[float],
    *,
    quantity: str = "contrast",
    described_as: str = "the contrast log P(good) - log P(bad)",
    source: str = "the source word",
    target: str = "the predicted word",
    threshold: float | None = None,
) -> MemorySpan:
    """The memory span of one model from its ladder.

    Args:
        distances: the ladder's distances in words, increasing.
        values: the quantity at each rung.
        quantity: "contrast" or "influence" (for the label).
        described_as: words for the quantity in the definition string.
        source: the source word, for the definition ("'Robert'").
        target: the predicted word, for the definition ("'his'").
        threshold: the smallest value at the shortest distance that counts as a clear effect; None:
            :data:`CLEAR_CONTRAST_NATS` for the contrast, any value above 0 for other quantities.

    Returns:
        A :class:`MemorySpan`.

    Example:
        >>> memory_span([6, 16, 26], [3.0, 2.0, 1.0]).display
        '21 words'
    """
    limit = (CLEAR_CONTRAST_NATS if quantity == "contrast" else 0.0) if threshold is None else float(threshold)
    value, beyond = half_crossing(distances, values)
    reference = float(values[0])
    shortest, longest = distances[0], distances[-1]
    measurable = reference > 0.0 and reference >= limit
    clear = f" A span is only read when that value is at least {limit:g} (a clear effect)." if limit > 0 else ""
    definition = (
        f"Memory span: the distance in words (tokens between {source} and the prediction of {target}) at which "
        f"{described_as} falls to half its value at the shortest distance ({shortest:g} words), "
        f"interpolating linearly between rungs.{clear}"
    )
    if not measurable:
        value, beyond = None, False
        wanted = f"at least {limit:g}" if limit > 0 else "above 0"
        unit = " nats" if quantity == "contrast" else ""
        display = (
            f"none measurable ({reference:+.2f}{unit} at {shortest:g} words; a clear effect needs {wanted})".replace(
                "-", "−"
            )
        )
    elif value is not None:
        display = f"{value:.3g} words"
    else:
        display = f"> {longest:g} words"
    return MemorySpan(
        value=value,
        beyond=beyond,
        display=display,
        definition=definition,
        quantity=quantity,
        reference=reference,
        measurable=measurable,
        threshold=limit,
    )
