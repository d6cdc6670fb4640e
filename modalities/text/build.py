"""Masked model inputs from masks: token id rows with TensorFlow ops, or strings on the host."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "build_deleted_ids",
    "build_deleted_ids_group",
    "build_hidden_ids",
    "build_hidden_ids_group",
    "build_masked_texts",
]


def build_hidden_ids(masks: Any, ids: Any, feature_of_position: Any, fill: Any) -> Any:
    """Rows of ids whose hidden tokens are replaced by ``fill``, with TensorFlow ops.

    Args:
        masks: ``(m, F)`` float, 1 keeps a feature.
        ids: ``(L,)`` int32 the unmasked row (special tokens, text tokens, padding).
        feature_of_position: ``(L,)`` int32 the feature at each position, -1 where there
            is none (special tokens, whitespace tokens, padding: always kept).
        fill: int32 scalar, the mask or padding id.

    Returns:
        ``(m, L)`` int32 ids.
    """
    import tensorflow as tf

    keep = _keep_positions(masks, feature_of_position)
    return tf.where(keep, ids[None, :], fill)


def build_hidden_ids_group(masks: Any, ids: Any, feature_of_position: Any, fills: Any) -> Any:
    """:func:`build_hidden_ids` for several texts in one call.

    Args:
        masks: ``(m, W + 1)`` float; the first ``W`` columns are a mask padded with zeros
            past each text's own features, the last is each row's text in the group.
        ids: ``(G, L)`` int32 the texts' unmasked rows.
        feature_of_position: ``(G, L)`` int32, as in :func:`build_hidden_ids`.
        fills: ``(G,)`` int32 the mask or padding id of each text.

    Returns:
        ``(m, L)`` int32 ids.
    """
    import tensorflow as tf

    which, keep = _keep_positions_group(masks, feature_of_position)
    return tf.where(keep, tf.gather(ids, which), tf.gather(fills, which)[:, None])


def build_deleted_ids(masks: Any, ids: Any, feature_of_position: Any, pad: Any) -> Any:
    """Rows of ids with hidden tokens removed, the rest shifted left and padded at the end.

    Args:
        masks: ``(m, F)`` float, 1 keeps a feature.
        ids: ``(L,)`` int32 the unmasked row.
        feature_of_position: ``(L,)`` int32 as in :func:`build_hidden_ids`.
        pad: int32 scalar, the padding id.

    Returns:
        ``(m, L)`` int32 ids.
    """
    import tensorflow as tf

    keep = _keep_positions(masks, feature_of_position)
    return _deleted(keep, tf.broadcast_to(ids[None, :], tf.shape(keep)), pad)


def build_deleted_ids_group(masks: Any, ids: Any, feature_of_position: Any, pads: Any) -> Any:
    """:func:`build_deleted_ids` for several texts in one call.

    Args:
        masks: ``(m, W + 1)`` as in :func:`build_hidden_ids_group`.
        ids: ``(G, L)`` int32 the texts' unmasked rows.
        feature_of_position: ``(G, L)`` int32, as in :func:`build_hidden_ids`.
        pads: ``(G,)`` int32 the padding id of each text.

    Returns:
        ``(m, L)`` int32 ids.
    """
    import tensorflow as tf

    which, keep = _keep_positions_group(masks, feature_of_position)
    return _deleted(keep, tf.gather(ids, which), tf.gather(pads, which)[:, None])


def _deleted(keep: Any, rows: Any, pad: Any) -> Any:
    """Each row's kept ids moved to the front in their order, the rest ``pad``."""
    import tensorflow as tf

    # A stable sort on "hidden" moves kept tokens to the front in their order.
    order = tf.argsort(tf.cast(tf.logical_not(keep), tf.int32), axis=1, stable=True)
    moved = tf.gather(rows, order, batch_dims=1)
    n_kept = tf.reduce_sum(tf.cast(keep, tf.int32), axis=1, keepdims=True)
    position = tf.range(tf.shape(rows)[1])[None, :]
    return tf.where(position < n_kept, moved, pad)


def build_masked_texts(
    masks: Any, text: str, units: Sequence[tuple[int, int, tuple[int, ...]]], fill: str
) -> np.ndarray:
    """Strings rebuilt from the kept tokens' characters, on the host.

    Args:
        masks: ``(m, F)`` 1 keeps a feature.
        text: The window's text.
        units: ``(start, end, columns)`` character ranges of ``text`` in order, each the
            features sharing those characters (one, or the byte tokens of one emoji).
        fill: What each hidden feature of a unit becomes (a mask or pad token's text,
            or ``""`` to delete); a unit is hidden when any of its features is.

    Returns:
        ``(m,)`` strings; the characters between units (whitespace) are always kept. An
        object array, as the model's batch of unmasked texts is: a numpy string array
        would drop a trailing NUL character.
    """
    keep = np.asarray(masks) > 0.5
    texts = []
    for row in keep:
        parts, position = [], 0
        for start, end, columns in units:
            parts.append(text[position:start])
            hidden = len(columns) - int(row[list(columns)].sum())
            parts.append(text[start:end] if hidden == 0 else fill * hidden)
            position = end
        parts.append(text[position:])
        texts.append("".join(parts))
    batch = np.empty(len(texts), dtype=object)
    batch[:] = texts
    return batch


def _keep_positions(masks: Any, feature_of_position: Any) -> Any:
    """``(m, L)`` bool, True where the row keeps its token."""
    import tensorflow as tf

    masks = tf.convert_to_tensor(masks, dtype=tf.float32)
    return tf.gather(_with_kept_column(masks), _column_of(feature_of_position, masks), axis=1)


def _keep_positions_group(masks: Any, feature_of_position: Any) -> tuple[Any, Any]:
    """Each row's text in the group ``(m,)`` and ``(m, L)`` bool, True where the row keeps
    its token."""
    import tensorflow as tf

    masks = tf.convert_to_tensor(masks, dtype=tf.float32)
    which = tf.cast(masks[:, -1], tf.int32)
    columns = _column_of(tf.gather(feature_of_position, which), masks[:, :-1])
    return which, tf.gather(_with_kept_column(masks[:, :-1]), columns, batch_dims=1)


def _with_kept_column(masks: Any) -> Any:
    """``(m, F + 1)`` bool: the masks, then a column that keeps (positions of no feature)."""
    import tensorflow as tf

    return tf.concat([masks > 0.5, tf.ones([tf.shape(masks)[0], 1], dtype=tf.bool)], axis=1)


def _column_of(feature_of_position: Any, masks: Any) -> Any:
    """The column of :func:`_with_kept_column` each position reads: its feature, or the
    last column where it has none (-1)."""
    import tensorflow as tf

    return tf.where(feature_of_position < 0, tf.shape(masks)[1], feature_of_position)
