"""What a reported number means: its name, its range and which way is better.

Every metric the book reports is a :class:`Metric`, defined next to the code
that computes it (:mod:`.faithfulness`, :mod:`.plausibility`, :mod:`.sanity`,
:mod:`.cost`), as ferret's evaluators carry their own name and direction. The
book layer builds its arrows ("↑", "↓"), its "lower = better" and its choice
of the best value from these objects, never from a typed glyph.

The model passes a metric makes to score inputs (not to explain them) run
under :func:`helpers.attr.base.fast_attention`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Rounding slack allowed by :meth:`Metric.check` (float32 probabilities).
_SLACK = 1e-5


@dataclass(frozen=True)
class Metric:
    """A reported number: ``name``, range ``[low, high]``, ``best`` value, ``what``.

    ``best`` is ``high`` when higher is better, ``low`` when lower is better,
    or a value inside the range (a correlation whose ideal is 0). ``what``:
    one sentence saying what the number measures.
    """

    name: str
    low: float
    high: float
    best: float
    what: str

    def __post_init__(self):
        if not self.low <= self.best <= self.high:
            raise ValueError(
                f"metric {self.name!r}: best {self.best} must lie in its range "
                f"[{self.low}, {self.high}]."
            )

    @property
    def higher_is_better(self) -> bool:
        """True when the best value is the top of the range."""
        return self.best == self.high

    @property
    def lower_is_better(self) -> bool:
        """True when the best value is the bottom of the range."""
        return self.best == self.low

    @property
    def better(self) -> str:
        """``"higher"``, ``"lower"`` or ``"nearer <best>"``."""
        if self.higher_is_better:
            return "higher"
        return "lower" if self.lower_is_better else f"nearer {self.best:g}"

    @property
    def direction(self) -> str:
        """The direction as prose: ``"higher is better"``, ``"lower is better"``."""
        return f"{self.better} is better"

    @property
    def arrow(self) -> str:
        """``"↑"`` (higher is better), ``"↓"`` (lower) or ``""`` (nearer a value)."""
        if self.higher_is_better:
            return "↑"
        return "↓" if self.lower_is_better else ""

    def label(self, text: str | None = None) -> str:
        """A column header: ``text`` (default: the name) and the arrow, if any."""
        return f"{self.name if text is None else text} {self.arrow}".rstrip()

    def key(self, value: float) -> float:
        """A sort key that grows as ``value`` gets better: ``max(.., key=m.key)``."""
        if self.higher_is_better:
            return value
        if self.lower_is_better:
            return -value
        return -abs(value - self.best)

    def superlative(self) -> str:
        """``"highest"``, ``"lowest"`` or ``"nearest <best>"``, for generated prose."""
        if self.higher_is_better:
            return "highest"
        return "lowest" if self.lower_is_better else f"nearest {self.best:g}"

    def check(self, values):
        """``values`` unchanged, or ``ValueError`` if one lies outside the range.

        NaN is allowed (a review that could not be scored); anything else must
        lie in ``[low, high]`` up to float rounding. A value outside is a bug
        upstream (wrong scores, a model that is not a classifier), never a result.
        """
        array = np.asarray(values, dtype=np.float64)
        outside = (array < self.low - _SLACK) | (array > self.high + _SLACK)
        bad = array[outside & ~np.isnan(array)]
        if bad.size:
            raise ValueError(
                f"{self.name} = {bad.flat[0]:g} lies outside its range "
                f"[{self.low:g}, {self.high:g}]: the inputs it was computed from "
                "are wrong (check the scores and that the model outputs logits)."
            )
        return values

    def __str__(self) -> str:
        span = f"[{self.low:g}, {self.high:g}]"
        return f"{self.name} in {span}, {self.direction}: {self.what}"
