"""Do the signed attribution methods agree with the gradient norm about which cue part matters?

The gradient norm ||d f / d e|| says how *sensitive* the prediction is to a word's vector; it is
never negative, so it cannot say in which direction the word pushes. The signed methods (the exact
swap, occlusion, integrated gradients, gradient x input) say whether the word raises or lowers
f = log P(target) - log P(contrast). On the seed sentence they can disagree: the norm makes
"Robert" the strongest word while occlusion says "Robert" lowers his-over-her. This module turns
the per-span numbers of :func:`model.analysis.lesson.span_attribution` into that finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

NORM_METHOD = "grad"
SIGNED_ORDER = ("swap", "occlusion", "ig", "gradxinput")


@dataclass(frozen=True)
class MethodComparison:
    """The gradient norm's strongest part against each signed method.

    Attributes:
        norm_top: the part with the largest gradient norm.
        agreeing: signed methods that give ``norm_top`` a positive value and rank it first.
        disagreeing: (method, its value on ``norm_top``, the part it ranks first) for the others.
    """

    norm_top: str
    agreeing: tuple[str, ...]
    disagreeing: tuple[tuple[str, float, str], ...]
    single: bool = False  # one part only: nothing to rank, only signs to compare

    @property
    def agree(self) -> bool:
        """Every signed method that was measured agrees with the norm."""
        return not self.disagreeing

    def sentence(self, names: Mapping[str, str], target: str, contrast: str) -> str:
        """The finding in words, e.g. 'The gradient norm ranks “Robert” first, but occlusion (−0.32) ...'.

        Args:
            names: method -> its name on the page ("occlusion", "integrated gradients").
            target, contrast: the two compared words.
        """
        top = f"“{self.norm_top}”"
        if self.single:
            if self.agree:
                return f"The methods agree: every signed method says {top} raises {target} over {contrast}."
            lowering = [f"{names.get(method, method)} ({_signed(value)})" for method, value, _ in self.disagreeing]
            return (
                f"The signed methods disagree about {top}: {_join(lowering)} {'says' if len(lowering) == 1 else 'say'} it "
                f"lowers {target} over {contrast}, though the gradient norm shows the prediction is sensitive to it."
            )
        if self.agree:
            return (
                f"The methods agree: the gradient norm ranks {top} first and every signed method says it raises "
                f"{target} over {contrast} more than any other part."
            )
        lowering = [
            f"{names.get(method, method)} ({_signed(value)})" for method, value, _ in self.disagreeing if value <= 0
        ]
        elsewhere = [
            f"{names.get(method, method)} ranks “{first}” first"
            for method, value, first in self.disagreeing
            if value > 0 and first != self.norm_top
        ]
        parts = []
        if lowering:
            parts.append(
                f"{_join(lowering)} {'says' if len(lowering) == 1 else 'say'} {top} lowers {target} over {contrast}"
            )
        if elsewhere:
            parts.append(_join(elsewhere))
        return f"The signed methods disagree with the gradient norm, which ranks {top} first: " + "; ".join(parts) + "."


def _signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "−")


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def compare_with_gradient_norm(rows: Sequence[Mapping], parts: Sequence[str]) -> MethodComparison:
    """Compare the signed methods with the gradient norm over the cue's parts.

    Args:
        rows: {"span", "method", "value"} rows of one model (model.analysis.lesson.span_attribution).
        parts: the span labels to compare ("Mr.", "Robert"); the whole cue is usually left out.

    Returns:
        A :class:`MethodComparison`.

    Raises:
        ValueError: no part, or no gradient norm for them.

    Example:
        >>> rows = [{"span": "Mr.", "method": "grad", "value": 0.6}, {"span": "Robert", "method": "grad", "value": 1.6},
        ...         {"span": "Mr.", "method": "occlusion", "value": 0.2}, {"span": "Robert", "method": "occlusion", "value": -0.3}]
        >>> compare_with_gradient_norm(rows, ["Mr.", "Robert"]).disagreeing
        (('occlusion', -0.3, 'Mr.'),)
    """
    if not parts:
        raise ValueError("Name at least one span to compare (e.g. the title and the name of the cue).")
    values = {(row["span"], row["method"]): float(row["value"]) for row in rows if row["span"] in parts}
    norms = {part: values[(part, NORM_METHOD)] for part in parts if (part, NORM_METHOD) in values}
    if not norms:
        raise ValueError(
            f"No gradient norm ({NORM_METHOD!r}) for the spans {list(parts)}; pass span_attribution's rows."
        )
    norm_top = max(norms, key=norms.get)
    agreeing, disagreeing = [], []
    for method in SIGNED_ORDER:
        scored = {part: values[(part, method)] for part in parts if (part, method) in values}
        if norm_top not in scored:
            continue
        first = max(scored, key=scored.get)
        if scored[norm_top] > 0 and first == norm_top:
            agreeing.append(method)
        else:
            disagreeing.append((method, scored[norm_top], first))
    return MethodComparison(
        norm_top=norm_top, agreeing=tuple(agreeing), disagreeing=tuple(disagreeing), single=len(norms) == 1
    )
