"""Image adapter: superpixel masker, image loading and per-label overlays."""

from __future__ import annotations

from .explanation import ImageExplanation
from .io import load_image, load_images
from .masker import FILLS, SEGMENTATIONS, ImageMasker, build_masked_images
from .segmentation import grid_segments, segment_linkage, slic_segments

__all__ = [
    "FILLS",
    "SEGMENTATIONS",
    "ImageExplanation",
    "ImageMasker",
    "build_masked_images",
    "grid_segments",
    "load_image",
    "load_images",
    "segment_linkage",
    "slic_segments",
]
