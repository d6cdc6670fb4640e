"""Integrated gradients in mask space: every label from one vectorised gradient pass."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .engines import needs_gradients_message

if TYPE_CHECKING:
    from .masking import MaskedInput
    from .model import LabelModel

__all__ = ["integrated_mask_gradients"]


def integrated_mask_gradients(
    model: LabelModel,
    bound: MaskedInput,
    columns: np.ndarray,
    *,
    n_steps: int,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Integrated gradients (Sundararajan et al., 2017) along the path from all features
    hidden to all kept, with the masks themselves as the path variable.

    With a soft build ``fill + mask * (input - fill)`` the gradient of the score with
    respect to one feature's mask is the sum, over that feature's pixels (or columns),
    of ``(input - fill) * d score / d pixel``: integrating it from mask 0 to 1 gives that
    feature's integrated-gradients attribution with the fill as baseline, the idea
    behind shap's GradientExplainer (expected gradients) when the background is the
    fill. The integral uses the midpoint rule over ``n_steps`` points; every selected
    label comes from the same ``batch_jacobian`` call.

    Args:
        model: A Keras :class:`LabelModel`.
        bound: A bound input whose masker gives a ``soft_build``.
        columns: Label columns to explain.
        n_steps: Points on the path (model rows used).

    Returns:
        ``(values (n_features, k), base_values (k,), completeness_gap)`` where the gap is
        the largest ``|sum(values) - (f(all) - f(none))|`` over labels: integrated
        gradients sum to that difference only up to the integration error.

    Raises:
        ValueError: If the masker has no differentiable build.
    """
    if bound.soft_build is None:
        raise ValueError(needs_gradients_message("a masked input without a soft_build"))
    steps = (np.arange(n_steps, dtype=np.float64) + 0.5) / n_steps
    masks = np.repeat(steps[:, None], bound.n_features, axis=1)
    _, gradients = model.mask_gradients(masks, bound.soft_build, bound.context, columns)
    values = gradients.mean(axis=0).T  # (n_features, k)

    ends = np.stack([np.zeros(bound.n_features), np.ones(bound.n_features)])
    empty, full = bound.evaluate(model, ends)[:, columns]
    gap = float(np.max(np.abs(values.sum(axis=0) - (full - empty))))
    return values, empty, gap
