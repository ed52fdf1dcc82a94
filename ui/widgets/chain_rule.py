"""The chain-rule calculator of the gradients view: parse per-step slopes, show their running product."""

from __future__ import annotations

import math
import re

MAX_STEPS = 200
_SEPARATORS = re.compile(r"[\s,;×*]+")


def parse_slopes(text: str) -> list[float]:
    """Numbers typed as "0.2, 0.1, 0.3" (commas, spaces, semicolons or × between them).

    Raises:
        ValueError: naming the first entry that is not a finite number, or when
            there are none or more than MAX_STEPS.
    """
    parts = [part for part in _SEPARATORS.split(text or "") if part]
    if not parts:
        raise ValueError("Type at least one slope, for example: 0.2, 0.1, 0.3")
    if len(parts) > MAX_STEPS:
        raise ValueError(f"At most {MAX_STEPS} steps; you typed {len(parts)}.")
    values = []
    for index, part in enumerate(parts, start=1):
        try:
            value = float(part)
        except ValueError:
            raise ValueError(
                f"Step {index} is “{part}”, which is not a number. Use numbers like 0.25 or 1.1."
            ) from None
        if not math.isfinite(value):
            raise ValueError(f"Step {index} is not a finite number ({part}).")
        values.append(value)
    return values


def running_products(slopes: list[float]) -> list[dict[str, float | int | None]]:
    """Rows of (step, slope, product of the slopes up to this step); |product| for the log scale.

    A product that underflows to 0 or overflows to infinity is kept as None (off the chart)
    rather than drawn as a wrong number.
    """
    rows = []
    log_magnitude = 0.0
    zero = False
    negative = False
    for step, slope in enumerate(slopes, start=1):
        if slope == 0:
            zero = True
        else:
            log_magnitude += math.log10(abs(slope))
            negative ^= slope < 0
        magnitude = 0.0 if zero else (10**log_magnitude if -300 < log_magnitude < 300 else None)
        rows.append(
            {
                "step": step,
                "slope": slope,
                "product": None if magnitude is None else (-magnitude if negative else magnitude),
                "abs_product": magnitude if magnitude not in (None, 0.0) else None,
                "log10_abs_product": None if zero else log_magnitude,
            }
        )
    return rows
