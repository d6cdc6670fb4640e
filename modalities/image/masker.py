"""The image masker: superpixels as features, hidden by a blurred copy, the mean or a constant."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from labelshap.masking import MaskedInput, Masker

from .io import load_images
from .segmentation import grid_segments, segment_linkage, slic_segments

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

    def prepare(self, inputs: Any, model: LabelModel) -> np.ndarray:
        """Load and check images against the model's input: ``(n, H, W, C)`` float32."""
        height, width, channels = self.input_shape or _image_input_shape(model)
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
        from skimage.filters import gaussian

        sigma = self.blur_sigma or max(image.shape[:2]) / 8.0
        blurred = gaussian(image, sigma=sigma, channel_axis=-1, preserve_range=True)
        return blurred.astype(np.float32)

    def bind(self, item: np.ndarray, model: LabelModel) -> MaskedInput:
        """Cut one prepared image into superpixels."""
        import tensorflow as tf

        image = np.asarray(item, dtype=np.float32)
        segments = self.segments(image)
        n_segments = int(segments.max()) + 1
        counts = np.bincount(segments.ravel(), minlength=n_segments)
        intensity = np.bincount(segments.ravel(), image.mean(axis=-1).ravel(), n_segments)
        return MaskedInput(
            n_features=n_segments,
            feature_names=[f"segment {j}" for j in range(n_segments)],
            build=build_masked_images,
            context=(
                tf.constant(segments),
                tf.constant(image),
                tf.constant(self.fill_image(image)),
            ),
            clustering=segment_linkage(segments, image),
            feature_data=intensity / np.maximum(counts, 1),
            extras={"segments": segments},
            soft_build=blend_masked_images,
            group_build=build_masked_image_group,
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


def _image_input_shape(model: LabelModel) -> tuple[int, int, int]:
    spec = model.input_spec
    if spec is None or isinstance(spec, dict):
        raise ValueError(
            f"model {model.source!r} does not declare one image input; pass "
            "ImageMasker(input_shape=(H, W, C)) or use a Keras model with an image input"
        )
    shape = spec[0]
    if len(shape) != 3 or any(dim is None for dim in shape):
        raise ValueError(
            f"model input shape {shape!r} is not a fixed (H, W, C); the image masker needs "
            "a model built for one image size"
        )
    return int(shape[0]), int(shape[1]), int(shape[2])
