"""labelshap: per-label SHAP explanations for multi-label Keras models.

One explainer interface over three modality adapters (``labelshap.modalities.image``,
``.text`` and ``.tabular``), each with its own masker and picture.
"""

from __future__ import annotations

from .engines import ALGORITHMS
from .explainer import Explainer
from .explanation import Explanation, load_explanation
from .labels import Threshold, TopK, load_label_names
from .masking import MaskedInput, Masker
from .model import LabelModel

__all__ = [
    "ALGORITHMS",
    "Explainer",
    "Explanation",
    "LabelModel",
    "MaskedInput",
    "Masker",
    "Threshold",
    "TopK",
    "load_explanation",
    "load_label_names",
]

__version__ = "0.1.0"
