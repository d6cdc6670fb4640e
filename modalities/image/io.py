"""Read images from files, PIL images or arrays into float32 arrays shaped for a model."""

from __future__ import annotations

import logging
import math
import numbers
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from labelshap._words import counted

__all__ = ["load_image", "load_images"]

logger = logging.getLogger(__name__)

ACCEPTED_CHANNELS = (1, 3, 4)
_TARGET_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
_EIGHT_BIT_MAX = 255

# Integer grayscale modes read at full depth, with the largest value of their bit depth.
_DEEP_GRAY_MAXIMA = {
    "I;16": 2**16 - 1,
    "I;16L": 2**16 - 1,
    "I;16B": 2**16 - 1,
    "I;16N": 2**16 - 1,
    "I": 2**31 - 1,
}
_FLOAT_GRAY_MODES = ("F",)

# What pillow raises for a file it cannot identify, a truncated or corrupt file, or a bomb.
_READ_ERRORS = (OSError, SyntaxError, EOFError, ValueError, Image.DecompressionBombError)
_ACCEPTED_FILES = "an image file pillow can read (PNG, JPEG, BMP, GIF, TIFF, WebP, ...)"
_ACCEPTED_SOURCES = "a path (str or pathlib.Path), a PIL.Image.Image or a numpy array"


def load_image(
    source: str | os.PathLike[str] | Image.Image | np.ndarray,
    *,
    size: tuple[int, int],
    channels: int,
    resize: bool = False,
    scale: float = 1 / 255,
) -> np.ndarray:
    """Read one image into a float32 array of shape ``(height, width, channels)``.

    Files and PIL images are converted explicitly to the model's channel count:
    1 channel through pillow mode ``'L'`` (luma), 3 through ``'RGB'`` and 4 through
    ``'RGBA'``. Grayscale, palette, RGB, RGBA, CMYK and LA images are all accepted.

    Args:
        source: A path to an image file, a ``PIL.Image.Image``, or a numpy array of shape
            ``(height, width)`` or ``(height, width, channels)``.
        size: The ``(height, width)`` the model takes.
        channels: The number of channels the model takes: 1, 3 or 4.
        resize: If True, an image of another size is resized (bilinear, with pillow's
            antialiasing when shrinking; the aspect ratio is not kept). If False, it is an
            error.
        scale: Factor applied to 8-bit pixel values (0-255) of files and PIL images. The
            default maps them to [0, 1]; pass 1.0 for a model that takes 0-255.

    Returns:
        The pixels as float32, shape ``(size[0], size[1], channels)``.

    Raises:
        FileNotFoundError: If ``source`` is a path that does not exist.
        TypeError: If ``source`` is of an unsupported type or a non-numeric array, or an
            option has the wrong type.
        ValueError: If the file cannot be read (unidentified, truncated, corrupt, a
            directory, more pixels than ``PIL.Image.MAX_IMAGE_PIXELS``), the image is
            empty, an array has the wrong number of channels, a pixel is NaN or
            infinite, the size differs and ``resize`` is False, or an option is out of
            range.

    Notes:
        16-bit images (pillow modes ``'I;16*'``, and ``'I'`` read from a PNG) are divided
        by 65535 and 32-bit integer images (mode ``'I'``) by 2**31 - 1, then multiplied by
        255 * ``scale``: with the default ``scale`` their values lie in [0, 1], like 8-bit
        images, without losing their extra precision. Float images (mode ``'F'``) and
        numpy arrays are taken as already in model units: ``scale`` is not applied to
        them, so a ``uint8`` array stays in 0-255. Alpha is dropped, not composited, when
        a model takes 1 or 3 channels; a missing alpha is filled as opaque (255 * scale).
        Only the first frame of an animated or multi-page file is read, and EXIF
        orientation is not applied (as in ``keras.utils.load_img``).

    Example:
        >>> import numpy as np
        >>> pixels = load_image(np.zeros((4, 6)), size=(2, 3), channels=1, resize=True)
        >>> pixels.shape, pixels.dtype
        ((2, 3, 1), dtype('float32'))
    """
    size = _check_options(size, channels, resize, scale)
    return _load_one(source, f"source {_describe(source)}", size, channels, resize, scale)


def load_images(
    sources: Iterable[str | os.PathLike[str] | Image.Image | np.ndarray] | np.ndarray,
    *,
    size: tuple[int, int],
    channels: int,
    resize: bool = False,
    scale: float = 1 / 255,
) -> np.ndarray:
    """Read several images into one float32 batch of shape ``(n, height, width, channels)``.

    Each item is read as by :func:`load_image`, with the same options; an error names the
    index of the item at fault.

    Args:
        sources: A sequence of paths, PIL images or arrays (they may be mixed), or one
            numpy array holding a batch: ``(n, height, width, channels)``, or
            ``(n, height, width)`` when ``channels`` is 1.
        size: The ``(height, width)`` the model takes.
        channels: The number of channels the model takes: 1, 3 or 4.
        resize: If True, images of another size are resized; if False, it is an error.
        scale: Factor applied to 8-bit pixel values of files and PIL images, as in
            :func:`load_image`.

    Returns:
        The batch as float32, shape ``(n, size[0], size[1], channels)``.

    Raises:
        FileNotFoundError: If an item is a path that does not exist.
        TypeError: If ``sources`` is a single image rather than a collection, or an item
            has an unsupported type.
        ValueError: If ``sources`` is empty, a batch array has an unusable shape, or an
            item fails as described in :func:`load_image`.
    """
    size = _check_options(size, channels, resize, scale)

    # Normalise every accepted form of `sources` into a list of single images.
    if isinstance(sources, np.ndarray):
        items = _split_batch(sources, channels)
    elif isinstance(sources, (str, os.PathLike, Image.Image)):
        raise TypeError(
            f"sources must be a collection of images, got a single image "
            f"{_describe(sources)}; pass [source], or call load_image"
        )
    elif isinstance(sources, Iterable):
        items = list(sources)
    else:
        raise TypeError(
            f"sources must be a sequence of images or an array batch, got "
            f"{type(sources).__name__}; accepted items: {_ACCEPTED_SOURCES}"
        )
    if not items:
        raise ValueError("sources is empty; accepted: at least one image")

    batch = np.empty((len(items), *size, channels), dtype=np.float32)
    for index, source in enumerate(items):
        # A file is named by its path alone; an in-memory image by its place as well.
        where = (
            _describe(source)
            if isinstance(source, (str, os.PathLike))
            else f"sources[{index}] {_describe(source)}"
        )
        batch[index] = _load_one(source, where, size, channels, resize, scale)
    logger.debug("read %s into a batch of shape %s", counted(len(items), "image"), batch.shape)
    return batch


def _check_options(
    size: object, channels: object, resize: object, scale: object
) -> tuple[int, int]:
    """Validate the options shared by both public functions and return ``size`` as a tuple."""
    accepted_size = "a (height, width) pair of positive integers"
    if not isinstance(size, Sequence) or isinstance(size, str) or len(size) != 2:
        raise TypeError(f"size must be {accepted_size}, got {size!r}")
    if not all(_is_integer(side) for side in size):
        raise TypeError(f"size must be {accepted_size}, got {size!r}")
    if min(size) < 1:
        raise ValueError(f"size must be {accepted_size}, got {size!r}")
    if not _is_integer(channels):
        raise TypeError(
            f"channels must be an integer, one of {ACCEPTED_CHANNELS}, got {channels!r}"
        )
    if channels not in ACCEPTED_CHANNELS:
        raise ValueError(f"channels must be one of {ACCEPTED_CHANNELS}, got {channels!r}")
    if not isinstance(resize, (bool, np.bool_)):
        raise TypeError(f"resize must be True or False, got {resize!r}")
    if not isinstance(scale, numbers.Real) or isinstance(scale, (bool, np.bool_)):
        raise TypeError(f"scale must be a positive finite number, got {scale!r}")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    return (int(size[0]), int(size[1]))


def _is_integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _describe(source: object) -> str:
    """A short description of a source for error messages (never a whole array)."""
    if isinstance(source, (str, os.PathLike)):
        return repr(os.fspath(source))
    if isinstance(source, Image.Image):
        return f"<PIL image, mode {source.mode!r}, {source.height}x{source.width} pixels>"
    if isinstance(source, np.ndarray):
        return f"<array of shape {source.shape}, dtype {source.dtype}>"
    return f"<{type(source).__name__}>"


def _split_batch(batch: np.ndarray, channels: int) -> list[np.ndarray]:
    """Split an array batch into single images, reading 3-D batches as 1-channel."""
    if batch.ndim == 4:
        return list(batch)
    if batch.ndim == 3 and channels == 1:
        return list(batch[..., np.newaxis])
    if batch.ndim == 3:
        raise ValueError(
            f"sources is an array of shape {batch.shape}; a 3-D batch is read as "
            f"(n, height, width) only when channels=1, and the model takes "
            f"channels={channels}; accepted: (n, height, width, {channels})"
        )
    raise ValueError(
        f"sources is an array of shape {batch.shape}; accepted: (n, height, width, channels), "
        "or (n, height, width) when channels=1"
    )


def _load_one(
    source: object, where: str, size: tuple[int, int], channels: int, resize: bool, scale: float
) -> np.ndarray:
    """Read one source, described as ``where`` in errors, with validated options."""
    if isinstance(source, (str, os.PathLike)):
        pixels = _read_file(Path(source), where, channels, scale)
    elif isinstance(source, Image.Image):
        pixels = _from_pil(source, where, channels, scale)
    elif isinstance(source, np.ndarray):
        pixels = _from_array(source, where, channels)
    else:
        raise TypeError(
            f"{where} has unsupported type {type(source).__name__}; accepted: {_ACCEPTED_SOURCES}"
        )

    if not np.isfinite(pixels).all():
        raise ValueError(
            f"{where} has NaN or infinite pixel values (or values beyond float32 range); "
            "accepted: finite values only"
        )
    return _fit_size(pixels, where, size, resize)


def _read_file(path: Path, where: str, channels: int, scale: float) -> np.ndarray:
    """Open, fully decode and convert an image file; read failures become ValueError."""
    if not path.exists():
        raise FileNotFoundError(f"{where} does not exist; accepted: the path of an existing file")
    if path.is_dir():
        raise ValueError(f"{where} is a directory; accepted: {_ACCEPTED_FILES}")

    # `Image.open` only reads the header: `load` decodes the pixels, so a truncated or
    # corrupt file fails here rather than later.
    try:
        image = Image.open(path)
    except Image.DecompressionBombError as err:
        raise ValueError(
            f"{where} has more pixels than pillow's decompression-bomb limit allows ({err}); "
            "accepted: images within PIL.Image.MAX_IMAGE_PIXELS, which you may raise for a "
            "file you trust"
        ) from err
    except _READ_ERRORS as err:
        raise ValueError(
            f"{where} cannot be read as an image ({err}); accepted: {_ACCEPTED_FILES}"
        ) from err
    with image:
        try:
            image.load()
        except _READ_ERRORS as err:
            raise ValueError(
                f"{where} is truncated or corrupt and cannot be decoded ({err}); "
                f"accepted: {_ACCEPTED_FILES}"
            ) from err
        return _from_pil(image, where, channels, scale)


def _from_pil(image: Image.Image, where: str, channels: int, scale: float) -> np.ndarray:
    """Convert a PIL image to float32 pixels in model units with ``channels`` channels."""
    if image.width == 0 or image.height == 0:
        raise ValueError(
            f"{where} is empty ({image.height}x{image.width} pixels); "
            "accepted: images of at least 1x1 pixels"
        )
    opaque = _EIGHT_BIT_MAX * scale

    # Deep grayscale is scaled by its own bit depth in numpy: pillow's own conversion to
    # 'L' or 'RGB' would clip it to 0-255.
    maximum = _deep_gray_maximum(image)
    if maximum is not None or image.mode in _FLOAT_GRAY_MODES:
        gray = np.asarray(image, dtype=np.float64)
        if maximum is not None:
            gray = gray * (_EIGHT_BIT_MAX / maximum * scale)
        return _gray_to_channels(gray, channels, opaque)

    converted = _convert_mode(image, _TARGET_MODES[channels], where)
    pixels = np.asarray(converted, dtype=np.float64) * scale
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    return pixels.astype(np.float32)


def _deep_gray_maximum(image: Image.Image) -> int | None:
    """The largest value of a 16- or 32-bit grayscale image's bit depth, else None."""
    if image.mode == "I" and image.format == "PNG":
        # Older pillow versions open 16-bit grayscale PNGs as mode 'I'; PNG holds 16 bits at most.
        return 2**16 - 1
    return _DEEP_GRAY_MAXIMA.get(image.mode)


def _gray_to_channels(gray: np.ndarray, channels: int, opaque: float) -> np.ndarray:
    """Repeat one grayscale plane into ``channels`` channels, adding an opaque alpha."""
    planes = [gray] if channels == 1 else [gray, gray, gray]
    if channels == 4:
        planes.append(np.full_like(gray, opaque))
    return np.stack(planes, axis=-1).astype(np.float32)


def _convert_mode(image: Image.Image, mode: str, where: str) -> Image.Image:
    """Convert to ``mode``, through RGBA for modes pillow cannot convert directly."""
    if image.mode == mode:
        return image
    if image.mode == "P" and "transparency" in image.info:
        # Going through RGBA applies the palette's transparency instead of warning.
        image = image.convert("RGBA")
        if mode == "RGBA":
            return image
    try:
        return image.convert(mode)
    except ValueError:
        logger.debug("pillow cannot convert %s directly to %s; going through RGBA", where, mode)
    try:
        return image.convert("RGBA").convert(mode)
    except ValueError as err:
        raise ValueError(
            f"{where} has pillow mode {image.mode!r}, which cannot be converted to {mode!r}; "
            "accepted modes include '1', 'L', 'P', 'RGB', 'RGBA', 'CMYK', 'LA', 'I;16', 'I' "
            "and 'F'"
        ) from err


def _from_array(array: np.ndarray, where: str, channels: int) -> np.ndarray:
    """Check an array's dtype, shape and channel count; return it as float32 (H, W, C)."""
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{where} has dtype {array.dtype}; accepted: arrays of integers, floats or booleans"
        )
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    elif array.ndim != 3:
        raise ValueError(
            f"{where} has {array.ndim} dimensions; accepted: (height, width) or "
            "(height, width, channels) arrays (use load_images for a batch)"
        )
    height, width, found = array.shape
    if height == 0 or width == 0:
        raise ValueError(
            f"{where} is empty ({height}x{width} pixels); accepted: images of at least 1x1 pixels"
        )

    if found not in ACCEPTED_CHANNELS:
        raise ValueError(
            f"{where} has {found} channels; accepted: arrays of 1, 3 or 4 channels matching "
            f"the model, which takes channels={channels}"
        )
    if found != channels:
        shapes = f"(height, width, {channels})"
        if channels == 1:
            shapes = "(height, width) or (height, width, 1)"
        raise ValueError(
            f"{where} has {found} channels but the model takes channels={channels}; arrays "
            f"are used as given, not converted: pass a {shapes} array, or a file or PIL image, "
            "which is converted"
        )
    # Values beyond float32's range become inf here and are refused by the caller.
    with np.errstate(over="ignore"):
        return array.astype(np.float32)


def _fit_size(pixels: np.ndarray, where: str, size: tuple[int, int], resize: bool) -> np.ndarray:
    """Return ``pixels`` at ``size``, resizing when allowed, else raising ValueError."""
    height, width = pixels.shape[:2]
    if (height, width) == size:
        return pixels
    if not resize:
        raise ValueError(
            f"{where} is {height}x{width} (height x width) but the model takes size={size!r} "
            "(height, width); pass resize=True (command line: --resize) to resize it"
        )

    # Resize each channel as a float 'F' image so nothing is quantised or clipped.
    logger.debug("resizing %s from %dx%d to %dx%d", where, height, width, *size)
    resized = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(pixels[:, :, channel])).resize(
                (size[1], size[0]), Image.Resampling.BILINEAR
            )
        )
        for channel in range(pixels.shape[2])
    ]
    return np.stack(resized, axis=-1).astype(np.float32)
