"""Packing several inputs' evaluations into shared batches changes no value."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from labelshap import Explainer
from labelshap._packing import _Batcher
from labelshap.modalities.image import ImageMasker


@pytest.mark.parametrize("algorithm", ["owen-sampling", "partition", "kernel", "permutation"])
def test_packed_values_equal_one_input_at_a_time(algorithm, image_label_model, images_factory):
    images = images_factory(4, size=16, seed=12)
    explainer = Explainer(
        image_label_model, ImageMasker("grid", cell=4), algorithm=algorithm, max_evals=120
    )

    together = explainer.explain(images)
    alone = [explainer.explain(images[i : i + 1]) for i in range(len(images))]

    for index, single in enumerate(alone):
        # Each input keeps its own seed (the explainer's seed plus its position).
        if algorithm in ("owen-sampling", "kernel", "permutation"):
            single = Explainer(
                image_label_model,
                ImageMasker("grid", cell=4),
                algorithm=algorithm,
                max_evals=120,
                seed=index,
            ).explain(images[index : index + 1])
        np.testing.assert_allclose(together.values[index], single.values[0], atol=1e-6)


def test_packed_evaluations_share_batches(image_label_model, images_factory):
    images = images_factory(6, size=16, seed=13)
    calls = []
    original = image_label_model.predict_masked

    def counting(masks, build, context, built_rows=1):
        calls.append(len(masks))
        return original(masks, build, context, built_rows)

    image_label_model.predict_masked = counting
    try:
        Explainer(
            image_label_model, ImageMasker("grid", cell=4), algorithm="owen-sampling", max_evals=92
        ).explain(images)
    finally:
        del image_label_model.predict_masked

    assert calls == [6 * 92]  # one request of every input's masks, not six


def test_a_failing_input_does_not_block_the_others():
    batches = []
    batcher = _Batcher(
        3,
        lambda requests: (
            batches.append(sorted(requests))
            or {position: masks.sum(axis=1, keepdims=True) for position, masks in requests.items()}
        ),
    )
    results = {}

    def work(position):
        try:
            if position == 1:
                raise RuntimeError("input 1 failed before asking")
            results[position] = batcher.evaluate(position, np.ones((2, 3)))
        except RuntimeError:
            results[position] = "failed"
        finally:
            batcher.finish(position)

    threads = [threading.Thread(target=work, args=(position,)) for position in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert not any(thread.is_alive() for thread in threads)
    assert results[1] == "failed"
    np.testing.assert_array_equal(results[0], [[3.0], [3.0]])
    assert batches == [[0, 2]]


TEXTS = [
    "A Perl module for parsing configuration files.",
    "Python bindings for the GTK toolkit.",
    "Qt widgets.",
    "Café naïve résumé, emoji 😀 for chat.",
]


@pytest.mark.parametrize("hide", ["mask", "pad", "delete"])
def test_packed_texts_get_the_values_of_one_text_at_a_time(
    hide, text_tokenizers, text_label_models
):
    from labelshap.modalities.text import TextMasker

    tokenizer, model = text_tokenizers["wordpiece"], text_label_models["wordpiece"]
    masker = TextMasker(tokenizer, hide=hide)
    # The texts have different token counts, so their masks are padded when packed.
    assert len({masker.bind(text, model).n_features for text in TEXTS}) > 1

    calls = []
    original = model.predict_masked

    def counting(masks, build, context, built_rows=1):
        calls.append(len(masks))
        return original(masks, build, context, built_rows)

    model.predict_masked = counting
    try:
        together = Explainer(model, masker, algorithm="permutation", max_evals=64).explain(TEXTS)
    finally:
        del model.predict_masked

    assert len(calls) == 1  # every text's masks in one request
    for index, text in enumerate(TEXTS):
        alone = Explainer(model, masker, algorithm="permutation", max_evals=64, seed=index)
        single = alone.explain([text])
        width = single.values.shape[1]
        np.testing.assert_allclose(together.values[index, :width], single.values[0], atol=1e-6)


@pytest.mark.parametrize("hide", ["mask", "delete"])
def test_a_text_group_build_gives_each_texts_own_masked_rows(
    hide, text_tokenizers, text_label_models
):
    import tensorflow as tf

    from labelshap.modalities.text import TextMasker

    tokenizer, model = text_tokenizers["wordpiece"], text_label_models["wordpiece"]
    bound = [TextMasker(tokenizer, hide=hide).bind(text, model) for text in TEXTS]
    width = max(b.n_features for b in bound)
    rng = np.random.default_rng(0)
    rows, expected = [], []
    for position, b in enumerate(bound):
        masks = (rng.random((5, b.n_features)) > 0.5).astype(np.float32)
        padded = np.zeros((5, width + 1), dtype=np.float32)
        padded[:, : b.n_features] = masks
        padded[:, -1] = position
        rows.append(padded)
        expected.append(np.asarray(b.build(tf.constant(masks), *b.context)))
    context = [np.stack([np.asarray(b.context[k]) for b in bound]) for k in range(3)]

    built = bound[0].group_build(tf.constant(np.concatenate(rows)), *context)

    np.testing.assert_array_equal(np.asarray(built), np.concatenate(expected))


def test_texts_read_in_windows_are_not_packed(text_tokenizers, text_label_models):
    from labelshap.modalities.text import TextMasker

    tokenizer, model = text_tokenizers["wordpiece"], text_label_models["wordpiece"]
    masker = TextMasker(tokenizer, long_text="window")
    long_text = " ".join(TEXTS * 3)

    assert masker.bind(long_text, model).group_build is None
    assert masker.bind(TEXTS[2], model).group_build is not None


def test_a_packed_batch_without_the_first_text_pads_with_valid_rows(
    text_tokenizers, text_label_models
):
    # An adaptive algorithm's later rounds may hold only shorter texts; the masks are then
    # narrower than the first text's features, and a batch's padding rows must not name it.
    import tensorflow as tf

    from labelshap.modalities.text import TextMasker

    tokenizer, model = text_tokenizers["wordpiece"], text_label_models["wordpiece"]
    bound = [TextMasker(tokenizer).bind(text, model) for text in TEXTS[:3]]
    assert bound[0].n_features > bound[2].n_features
    masks = (np.random.default_rng(1).random((5, bound[2].n_features)) > 0.5).astype(np.float32)
    packed = np.concatenate([masks, np.full((5, 1), 2, np.float32)], axis=1)
    context = tuple(np.stack([np.asarray(b.context[k]) for b in bound]) for k in range(3))

    scores = model.predict_masked(packed, bound[0].group_build, context)  # 5 rows, padded

    expected = model.predict(np.asarray(bound[2].build(tf.constant(masks), *bound[2].context)))
    np.testing.assert_allclose(scores, expected, atol=1e-6)


def test_packed_partition_on_texts_of_different_lengths_equals_one_at_a_time(
    text_tokenizers, text_label_models
):
    from labelshap.modalities.text import TextMasker

    tokenizer, model = text_tokenizers["wordpiece"], text_label_models["wordpiece"]
    masker = TextMasker(tokenizer)
    # The longest text first: it is still refined after the short ones have finished.
    texts = [" ".join(TEXTS), TEXTS[2], TEXTS[1]]
    explainer = Explainer(model, masker, algorithm="partition", max_evals=150)

    together = explainer.explain(texts)

    for index, text in enumerate(texts):
        single = explainer.explain([text])
        width = single.values.shape[1]
        np.testing.assert_allclose(together.values[index, :width], single.values[0], atol=1e-6)
