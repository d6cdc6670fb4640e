"""The image masker: superpixels as features, hidden by a blurred copy, the mean or a constant."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from labelshap.masking import MaskedInput, Masker

from .io import load_image, load_images
from .segmentation import block_mean, grid_segments, segment_linkage, slic_segments

if TYPE_CHECKING:
    from labelshap.model import LabelModel

__all__ = [
    "FILLS",
    "SEGMENTATIONS",
    "ImageMasker",
    "blend_masked_images",
    "build_masked_image_group",
    "build_masked_images",
]

logger = logging.getLogger(__name__)

SEGMENTATIONS = ("slic", "grid")
FILLS = ("blur", "mean", "constant")
# A wider blur is computed on a copy shrunk by ceil(sigma / this), then interpolated back
# (a 4096 x 4096 image's default sigma of 512 took minutes at full size; ~1 s shrunk).
_FULL_SIZE_BLUR_SIGMA = 32.0
# From this many pixels a single image's masked copies are built by an XLA-compiled
# build (see `_fused`). Below it, one image is usually explained once, and a compile
# (~50 ms per batch shape) would cost more than it saves. Several images explained
# together always share the compiled group build: on 64 x 64 digits (2 quiet cores) its
# gathers and select took 4.3-4.5 ms per 256 masks, 11% of the CNN, against 0.8-0.9 ms.
_FUSED_BUILD_PIXELS = 2**18
_FUSED: dict[Any, Any] = {}


class ImageMasker(Masker):
    """Hides superpixels of an image.

    Features are superpixels: SLIC (scikit-image) by default, or square cells of a grid.
    A hidden superpixel takes the pixels of a fill image: a Gaussian-blurred copy of the
    input, the input's mean colour, or a constant. The hierarchy that the partition
    algorithm walks merges touching superpixels (Ward clustering of position and colour).
    Masked images are built with TensorFlow ops from the masks, the image and the fill,
    inside the compiled model call: only the masks cross from the host to the device.

    Args:
        segmentation: ``"slic"`` or ``"grid"``.
        n_segments: Approximate number of SLIC superpixels.
        compactness: SLIC compactness; ``None`` chooses by channel count (see
            :func:`slic_segments`).
        cell: Grid cell size in pixels.
        fill: ``"blur"``, ``"mean"`` or ``"constant"``.
        blur_sigma: Standard deviation of the blur in pixels; ``None`` uses an eighth of
            the longer image side.
        constant: Pixel value of the ``"constant"`` fill, in model units.
        resize: Resize inputs of another size to the model's input size. Without it a
            size mismatch is an error; nothing is resized silently.
        pixel_scale: Factor from 8-bit file pixels to model units (1/255: [0, 1]).
        input_shape: ``(H, W, C)`` of the model's input, for models that do not declare
            one (plain callables); Keras models declare theirs.
    """

    modality = "image"
    differentiable_masks = True

    def __init__(
        self,
        segmentation: str = "slic",
        *,
        n_segments: int = 80,
        compactness: float | None = None,
        cell: int = 8,
        fill: str = "blur",
        blur_sigma: float | None = None,
        constant: float = 0.0,
        resize: bool = False,
        pixel_scale: float = 1.0 / 255.0,
        input_shape: tuple[int, int, int] | None = None,
    ) -> None:
        if segmentation not in SEGMENTATIONS:
            raise ValueError(
                f"segmentation={segmentation!r} is not supported; accepted: {SEGMENTATIONS}"
            )
        if fill not in FILLS:
            raise ValueError(f"fill={fill!r} is not supported; accepted: {FILLS}")
        for name, value in (("n_segments", n_segments), ("cell", cell)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive integer")
        if blur_sigma is not None and not blur_sigma > 0:
            raise ValueError(f"blur_sigma={blur_sigma!r} must be a positive number or None")
        self.segmentation = segmentation
        self.n_segments = n_segments
        self.compactness = compactness
        self.cell = cell
        self.fill = fill
        self.blur_sigma = blur_sigma
        self.constant = constant
        self.resize = resize
        self.pixel_scale = pixel_scale
        self.input_shape = input_shape

    def image_shape(self, model: LabelModel) -> tuple[int, int, int]:
        """The ``(H, W, C)`` of the images this masker gives ``model``.

        Raises:
            ValueError: If the model takes no images of one fixed size (a model for text
                or tables, say); the message gives the model's input shape.
        """
        return self.input_shape or _image_input_shape(model)

    def prepare(self, inputs: Any, model: LabelModel) -> np.ndarray:
        """Load and check images against the model's input: ``(n, H, W, C)`` float32."""
        height, width, channels = self.image_shape(model)
        return load_images(
            inputs,
            size=(height, width),
            channels=channels,
            resize=self.resize,
            scale=self.pixel_scale,
        )

    def segments(self, image: np.ndarray) -> np.ndarray:
        """Superpixel labels ``(H, W)`` of one image."""
        if self.segmentation == "grid":
            return grid_segments(image.shape[0], image.shape[1], self.cell)
        return slic_segments(image, self.n_segments, self.compactness)

    def fill_image(self, image: np.ndarray) -> np.ndarray:
        """The pixels a hidden superpixel takes, ``(H, W, C)`` float32."""
        if self.fill == "constant":
            return np.full_like(image, self.constant, dtype=np.float32)
        if self.fill == "mean":
            mean = image.reshape(-1, image.shape[-1]).mean(axis=0)
            return np.broadcast_to(mean, image.shape).astype(np.float32)
        sigma = self.blur_sigma or max(image.shape[:2]) / 8.0
        return _gaussian_blur(np.asarray(image, dtype=np.float32), sigma)

    def bind(self, item: np.ndarray, model: LabelModel) -> MaskedInput:
        """Cut one prepared image into superpixels.

        Raises:
            TypeError: If ``item`` is not an image (an array of numbers, a path or a PIL
                image).
            ValueError: If it is not ``(H, W, C)`` of the model's size, or holds NaN or
                infinite pixels.
        """
        import tensorflow as tf

        # The same checks as `prepare`, for an image that did not come from it.
        height, width, channels = self.image_shape(model)
        image = load_image(
            item,
            size=(height, width),
            channels=channels,
            scale=self.pixel_scale,
        )
        segments = self.segments(image)
        n_segments = int(segments.max()) + 1
        counts = np.bincount(segments.ravel(), minlength=n_segments)
        intensity = np.bincount(segments.ravel(), image.mean(axis=-1).ravel(), n_segments)
        fused = segments.size >= _FUSED_BUILD_PIXELS
        return MaskedInput(
            n_features=n_segments,
            feature_names=[f"segment {j}" for j in range(n_segments)],
            build=_fused(build_masked_images) if fused else build_masked_images,
            context=(
                tf.constant(segments),
                tf.constant(image),
                tf.constant(self.fill_image(image)),
            ),
            clustering=segment_linkage(segments, image),
            feature_data=intensity / np.maximum(counts, 1),
            extras={"segments": segments},
            soft_build=blend_masked_images,
            group_build=_fused(build_masked_image_group),
        )


def build_masked_images(masks: Any, segments: Any, image: Any, fill: Any) -> Any:
    """Masked copies of one image, with TensorFlow ops: no Python loop over masks.

    Args:
        masks: ``(m, F)`` float, 1 keeps a superpixel.
        segments: ``(H, W)`` int superpixel labels.
        image: ``(H, W, C)`` the image.
        fill: ``(H, W, C)`` what hidden pixels show.

    Returns:
        ``(m, H, W, C)`` masked images.
    """
    import tensorflow as tf

    keep = tf.gather(masks > 0.5, segments, axis=1)[..., None]
    return tf.where(keep, image, fill)


def build_masked_image_group(masks: Any, segments: Any, images: Any, fills: Any) -> Any:
    """Masked copies of several images in one call, with TensorFlow ops.

    Args:
        masks: ``(m, F + 1)`` float; the last column is each row's image in the group.
        segments: ``(G, H, W)`` superpixel maps of the group's images.
        images: ``(G, H, W, C)`` the images.
        fills: ``(G, H, W, C)`` what hidden pixels show.

    Returns:
        ``(m, H, W, C)`` masked images.
    """
    import tensorflow as tf

    which = tf.cast(masks[:, -1], tf.int32)
    keep = tf.gather(masks[:, :-1] > 0.5, tf.gather(segments, which), batch_dims=1)
    return tf.where(keep[..., None], tf.gather(images, which), tf.gather(fills, which))


def blend_masked_images(masks: Any, segments: Any, image: Any, fill: Any) -> Any:
    """Masked images for masks in [0, 1]: each pixel blends from its fill to the image.

    Equals :func:`build_masked_images` for 0/1 masks and is differentiable in the masks,
    which the gradient algorithm needs.
    """
    import tensorflow as tf

    keep = tf.gather(tf.cast(masks, image.dtype), segments, axis=1)[..., None]
    return fill + keep * (image - fill)


def _fused(build: Any) -> Any:
    """``build`` compiled by XLA into one pass over the pixels, the same object for every
    input: on a 4096 x 4096 image TensorFlow's separate gather and select took 0.39 s
    per 2 masked images, the fused build 0.08 s, with the same values (it only selects).
    """
    fused = _FUSED.get(build)
    if fused is None:
        import tensorflow as tf

        fused = _FUSED.setdefault(build, tf.function(build, jit_compile=True))
    return fused


def _gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``(H, W, C)`` float32, exact up to sigma 32 pixels.

    A wider blur runs on block means shrunk by ``f = ceil(sigma / 32)`` with sigma / f,
    then is interpolated back bilinearly: the cost drops from ``H * W * sigma`` to
    ``H * W`` (a 4096 x 4096 image: minutes to under a second). On photo-like images it
    stays within 0.5% of the range of the full-size blur farther than sigma from the
    border (0.1% on average); nearer, the full-size blur repeats one edge pixel and this
    one an edge block's mean, so noisy borders differ by a few percent.
    """
    from skimage.filters import gaussian

    factor = int(np.ceil(sigma / _FULL_SIZE_BLUR_SIGMA))
    if factor <= 1:
        blurred = gaussian(image, sigma=sigma, channel_axis=-1, preserve_range=True)
        return blurred.astype(np.float32)
    small = block_mean(image, factor)
    small = gaussian(small, sigma=sigma / factor, channel_axis=-1, preserve_range=True)
    rows = _linear_weights(image.shape[0], small.shape[0], factor)
    cols = _linear_weights(image.shape[1], small.shape[1], factor)
    blurred = np.empty(image.shape, dtype=np.float32)
    for channel in range(image.shape[-1]):
        blurred[..., channel] = rows @ small[..., channel].astype(np.float32) @ cols.T
    return blurred


def _linear_weights(size: int, small_size: int, factor: int) -> np.ndarray:
    """``(size, small_size)`` bilinear interpolation weights from block centres back to
    pixel centres (clamped at the edges)."""
    position = np.clip((np.arange(size) + 0.5) / factor - 0.5, 0, small_size - 1)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, small_size - 1)
    weights = np.zeros((size, small_size), dtype=np.float32)
    np.add.at(weights, (np.arange(size), below), 1.0 - (position - below))
    np.add.at(weights, (np.arange(size), above), position - below)
    return weights


def _image_input_shape(model: LabelModel) -> tuple[int, int, int]:
    spec = model.input_spec
    if spec is None or isinstance(spec, dict):
        raise ValueError(
            f"model {model.source!r} does not declare one image input; pass "
            "ImageMasker(input_shape=(H, W, C)) or use a Keras model with an image input"
        )
    shape, dtype = spec
    if len(shape) != 3:
        raise ValueError(
            f"model {model.source!r} takes inputs of shape {shape!r} ({dtype}) per row, not "
            "images: the image masker gives it (height, width, channels) images; accepted: "
            "a model with one image input, such as (64, 64, 1) (is it a model for text or "
            "tables?)"
        )
    if any(dim is None for dim in shape):
        raise ValueError(
            f"model {model.source!r} takes images of shape {shape!r}, of no fixed size; the "
            "image masker needs one size: pass ImageMasker(input_shape=(H, W, C)), or use a "
            "model built for one image size such as (64, 64, 3)"
        )
    return int(shape[0]), int(shape[1]), int(shape[2])
