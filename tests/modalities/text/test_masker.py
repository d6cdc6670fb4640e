"""The text masker: the ids each hide mode builds, features, long texts, strings, bad input."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from labelshap import Explainer, LabelModel
from labelshap.modalities.text import TextMasker
from labelshap.modalities.text.model import encode_texts

LENGTH = 12
LONG_TEXT = (
    "A Perl module for parsing configuration files, written in pure Perl. "
    "Python bindings for the GTK toolkit."
)


@pytest.fixture(scope="module")
def ids_model(wordpiece, text_model_factory):
    """A model over WordPiece ids, 12 per row (10 text tokens after [CLS] and [SEP])."""
    return LabelModel(text_model_factory(len(wordpiece), LENGTH, seed=2), ["a", "b", "c", "d"])


@pytest.fixture(scope="module")
def bpe_model(byte_bpe, text_model_factory):
    return LabelModel(text_model_factory(len(byte_bpe), LENGTH, seed=3), ["a", "b", "c", "d"])


def built_rows(bound, masks):
    import tensorflow as tf

    return np.asarray(bound.build(tf.constant(masks, dtype=tf.float32), *bound.context))


def token_ids(tokenizer, text):
    return tokenizer(text)["input_ids"]


def expected_row(ids, keep, hide, tokenizer):
    """The id row a mask should give, written plainly: ``ids`` are [CLS] tokens [SEP]."""
    first, content, last = ids[0], ids[1:-1], ids[-1]
    if hide == "delete":
        middle = [token for token, kept in zip(content, keep, strict=True) if kept]
    else:
        fill = tokenizer.mask_token_id if hide == "mask" else tokenizer.pad_token_id
        middle = [token if kept else fill for token, kept in zip(content, keep, strict=True)]
    row = [first, *middle, last]
    return row + [tokenizer.pad_token_id] * (LENGTH - len(row))


@pytest.mark.parametrize("hide", ["mask", "pad", "delete"])
def test_each_hide_mode_builds_the_expected_ids(wordpiece, ids_model, hide):
    text = "perl module for parsing"
    ids = token_ids(wordpiece, text)
    n_tokens = len(ids) - 2
    masks = [
        [1, 0] * (n_tokens // 2) + [1] * (n_tokens % 2),
        [0] * n_tokens,
        [1] * n_tokens,
        [1] * (n_tokens - 1) + [0],
    ]
    bound = TextMasker(wordpiece, hide=hide).bind(text, ids_model)

    rows = built_rows(bound, masks)

    assert bound.n_features == n_tokens >= 4
    assert rows.dtype == np.int32
    for row, keep in zip(rows, masks, strict=True):
        assert row.tolist() == expected_row(ids, keep, hide, wordpiece)


def test_delete_keeps_whitespace_tokens_and_shifts_the_rest_left(byte_bpe, bpe_model):
    text = "perl  module"
    encoding = byte_bpe(text)
    ids, tokens = encoding["input_ids"], byte_bpe.convert_ids_to_tokens(encoding["input_ids"])
    masker = TextMasker(byte_bpe, hide="delete")
    bound = masker.bind(text, bpe_model)
    visible = [i for i, token in enumerate(tokens[1:-1], start=1) if token.strip("Ġ")]

    rows = built_rows(bound, [[0] + [1] * (bound.n_features - 1)])

    # The whitespace-only token 'Ġ' is no feature: it stays when the word before it goes.
    assert "Ġ" in tokens and bound.n_features == len(visible)
    kept = [token_id for i, token_id in enumerate(ids) if i != visible[0]]
    pad = byte_bpe.pad_token_id
    assert rows[0].tolist() == kept + [pad] * (LENGTH - len(kept))


def test_stack_gives_the_ids_the_model_was_trained_on(wordpiece, ids_model):
    texts = ["perl module", LONG_TEXT, "", "Café 😀"]
    masker = TextMasker(wordpiece)

    with pytest.warns(UserWarning, match="1 of 4 texts are longer"):
        prepared = masker.prepare(texts, ids_model)

    np.testing.assert_array_equal(masker.stack(prepared), encode_texts(wordpiece, texts, LENGTH))


@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_empty_and_whitespace_texts_have_no_features_and_an_empty_explanation(
    any_tokenizer, text_model_factory, text
):
    model = LabelModel(text_model_factory(len(any_tokenizer), LENGTH), ["a", "b", "c", "d"])
    result = Explainer(model, TextMasker(any_tokenizer), max_evals=100).explain(
        [text, "perl module"]
    )

    assert result.n_features.tolist()[0] == 0
    assert result.feature_names[0] == []
    np.testing.assert_array_equal(result.values[0], 0.0)
    np.testing.assert_allclose(result.base_values[0], result.scores[0])
    assert result.text(0) == text


def test_the_demo_logs_truncation_in_its_own_terms(wordpiece, ids_model, caplog):
    from labelshap.modalities.text.demo import explain_noting_long_texts

    explainer = Explainer(ids_model, TextMasker(wordpiece), max_evals=40, progress=False)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level("INFO"):
        warnings.simplefilter("always")
        result = explain_noting_long_texts(explainer, [LONG_TEXT, "perl module"])

    assert not [w for w in caught if "longer than the model" in str(w.message)]
    notes = [r.getMessage() for r in caplog.records if "demo descriptions" in r.getMessage()]
    assert notes == [
        "1 of 2 demo descriptions are longer than the model's 12 tokens; the demo explains "
        "their first 10 (labelshap explain text --long-text window explains whole texts)"
    ]
    assert result.n_features.tolist()[0] == 10


def test_truncation_warns_once_and_records_the_explained_characters(wordpiece, ids_model):
    texts = [LONG_TEXT, "perl module", LONG_TEXT + " More."]
    encoding = wordpiece(LONG_TEXT, return_offsets_mapping=True)
    tenth_token_end = encoding["offset_mapping"][10][1]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = Explainer(ids_model, TextMasker(wordpiece), max_evals=100).explain(texts)

    ours = [w for w in caught if "longer than the model's 12 tokens" in str(w.message)]
    assert len(ours) == 1
    assert "2 of 3 texts" in str(ours[0].message)
    assert "long_text='window'" in str(ours[0].message)
    assert result.extras["explained_range"][0].tolist() == [0, tenth_token_end]
    assert result.extras["explained_range"][1].tolist() == [0, len("perl module")]
    assert result.n_features.tolist() == [10, len(token_ids(wordpiece, "perl module")) - 2, 10]
    assert result.text(0) == LONG_TEXT
    gap = result.scores - result.base_values
    np.testing.assert_allclose(result.values.sum(axis=1), gap, atol=1e-6)


def test_windows_cover_every_token_and_sum_to_the_mean_window_gap(wordpiece, ids_model):
    masker = TextMasker(wordpiece, long_text="window", stride=4)
    ids = token_ids(wordpiece, LONG_TEXT)[1:-1]
    cls, sep, mask = wordpiece.cls_token_id, wordpiece.sep_token_id, wordpiece.mask_token_id

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # window mode does not warn
        result = Explainer(ids_model, masker, max_evals=400, seed=1).explain(LONG_TEXT)

    starts = [*range(0, len(ids) - 10, 4), len(ids) - 10]
    assert result.n_features[0] == len(ids)
    assert int((result.extras["windows"][0][:, 0] >= 0).sum()) == len(starts)

    def mean_over_windows(tokens):
        rows = [[cls, *tokens[s : s + 10], sep] for s in starts]
        return ids_model.predict(np.array(rows, dtype=np.int32)).mean(axis=0)

    np.testing.assert_allclose(result.scores[0], mean_over_windows(ids), atol=1e-6)
    np.testing.assert_allclose(result.base_values[0], mean_over_windows([mask] * len(ids)))
    gap = result.scores - result.base_values
    np.testing.assert_allclose(result.values.sum(axis=1), gap, atol=1e-6)
    assert result.info["model_rows"] == result.info["evaluations"] * len(starts)


def test_raw_string_models_get_texts_rebuilt_from_kept_characters(byte_bpe, keyword_label_model):
    text = "hi 😀 perl  x"
    bound = TextMasker(byte_bpe).bind(text, keyword_label_model)
    emoji = [i for i, (start, _) in enumerate(bound.extras["offsets"]) if start == 3]
    perl = [i for i, (start, end) in enumerate(bound.extras["offsets"]) if start >= 5 and end <= 9]
    assert len(emoji) > 1, "the emoji should be several byte tokens"

    def rebuilt(hide, hidden):
        masks = np.ones((1, bound.n_features))
        masks[0, hidden] = 0
        masker = TextMasker(byte_bpe, hide=hide)
        bound_here = masker.bind(text, keyword_label_model)
        return bound_here.build(masks, *bound_here.context)[0]

    assert rebuilt("mask", []) == text
    assert rebuilt("mask", emoji[:1]) == "hi <mask> perl  x"
    assert rebuilt("mask", perl) == "hi 😀 " + "<mask>" * len(perl) + "  x"
    assert rebuilt("pad", [0]) == "<pad> 😀 perl  x"
    assert rebuilt("delete", emoji) == "hi  perl  x"


def test_raw_string_scores_are_the_callable_on_the_text(byte_bpe, keyword_label_model):
    texts = ["A perl game", "Python 😀"]
    result = Explainer(keyword_label_model, TextMasker(byte_bpe), max_evals=200).explain(texts)

    np.testing.assert_allclose(result.scores, keyword_label_model.predict(texts))
    gap = result.scores - result.base_values
    np.testing.assert_allclose(result.values.sum(axis=1), gap, atol=1e-9)


def test_utf8_bytes_are_accepted(wordpiece, ids_model):
    prepared = TextMasker(wordpiece).prepare([b"caf\xc3\xa9", "perl"], ids_model)

    assert list(prepared) == ["café", "perl"]


@pytest.mark.parametrize(
    ("inputs", "error", "match"),
    [
        (["perl", 5], TypeError, r"inputs\[1\] is a int \(5\); accepted: str or UTF-8 bytes"),
        ([None], TypeError, r"inputs\[0\] is a NoneType"),
        ([b"ok", b"\xff\xfe bad"], ValueError, r"inputs\[1\] is bytes that are not UTF-8"),
        ([], ValueError, "inputs holds no texts"),
        (42, TypeError, "inputs of type 'int' is not a text or a sequence of texts"),
    ],
)
def test_bad_inputs_get_a_clear_error(wordpiece, ids_model, inputs, error, match):
    with pytest.raises(error, match=match):
        TextMasker(wordpiece).prepare(inputs, ids_model)


@pytest.fixture(scope="module")
def no_mask_tokenizer(wordpiece):
    """The WordPiece tokenizer without a mask token."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(wordpiece.backend_tokenizer.to_str())
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )


def test_a_tokenizer_without_a_mask_token_refuses_hide_mask(no_mask_tokenizer, ids_model):
    with pytest.raises(ValueError, match=r"hide='mask' needs a tokenizer with a mask token"):
        TextMasker(no_mask_tokenizer)

    bound = TextMasker(no_mask_tokenizer, hide="pad").bind("perl module", ids_model)
    assert bound.n_features == len(token_ids(no_mask_tokenizer, "perl module")) - 2


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"hide": "blank"}, ValueError, r"hide='blank' is not supported; accepted: \('mask'"),
        ({"long_text": "split"}, ValueError, r"long_text='split' is not supported"),
        ({"max_length": 0}, ValueError, r"max_length=0 must be a positive integer or None"),
        ({"stride": 1.5}, ValueError, r"stride=1.5 must be a positive integer or None"),
    ],
)
def test_bad_options_get_a_clear_error(wordpiece, options, error, match):
    with pytest.raises(error, match=match):
        TextMasker(wordpiece, **options)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"long_text": "window", "stride": 11}, r"stride=11 exceeds the 10 text tokens"),
        ({"max_length": 2}, r"max_length=2 leaves no room for text after the tokenizer's 2"),
        ({"max_length": 13}, r"max_length=13 exceeds the model's input length 12"),
    ],
)
def test_lengths_that_cannot_work_get_a_clear_error(wordpiece, ids_model, options, match):
    with pytest.raises(ValueError, match=match):
        TextMasker(wordpiece, **options).prepare([LONG_TEXT], ids_model)


def test_a_tokenizer_is_read_from_its_directory(wordpiece, ids_model, tmp_path):
    wordpiece.save_pretrained(str(tmp_path))

    from_directory = TextMasker(str(tmp_path)).bind("perl module", ids_model)
    in_memory = TextMasker(wordpiece).bind("perl module", ids_model)

    assert from_directory.feature_names == in_memory.feature_names
    assert "".join(from_directory.feature_names).replace("#", "") == "perlmodule"


def test_a_slow_or_foreign_tokenizer_is_refused():
    with pytest.raises(TypeError, match="is not a Hugging Face fast tokenizer"):
        TextMasker(object())


def test_models_with_several_inputs_are_refused(wordpiece):
    import keras

    ids = keras.Input((LENGTH,), dtype="int32", name="ids")
    attention = keras.Input((LENGTH,), dtype="int32", name="attention")
    merged = keras.layers.Concatenate()([ids, attention])
    outputs = keras.layers.Dense(2, activation="sigmoid")(keras.ops.cast(merged, "float32"))
    model = LabelModel(keras.Model([ids, attention], outputs), ["a", "b"])

    with pytest.raises(NotImplementedError, match="takes several inputs"):
        TextMasker(wordpiece).prepare(["perl"], model)


def test_importing_the_text_adapter_loads_neither_tensorflow_nor_transformers():
    code = (
        "import sys, labelshap.modalities.text; "
        "print(sorted(m for m in ('tensorflow', 'transformers', 'keras') if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


def test_each_text_is_tokenised_once_however_often_it_is_read(wordpiece, ids_model, monkeypatch):
    # explain() reads every text in prepare, score and bind; the masker keeps the
    # documents, so a text costs one tokenisation, and the values do not change.
    from labelshap.modalities.text import masker as text_masker

    texts = ["A Python library for GTK.", "Perl module for parsing files.", "Fonts."]
    expected = Explainer(ids_model, TextMasker(wordpiece), max_evals=60, seed=3).explain(texts)
    calls: dict[str, int] = {}
    real = text_masker.tokenize_document

    def counting(backend, text, **options):
        calls[text] = calls.get(text, 0) + 1
        return real(backend, text, **options)

    monkeypatch.setattr(text_masker, "tokenize_document", counting)
    explainer = Explainer(ids_model, TextMasker(wordpiece), max_evals=60, seed=3)
    first = explainer.explain(texts)
    assert calls == {text: 1 for text in texts}
    second = explainer.explain(texts)
    assert calls == {text: 1 for text in texts}
    np.testing.assert_array_equal(first.values, expected.values)
    np.testing.assert_array_equal(second.values, expected.values)


def test_a_masker_with_other_window_settings_does_not_reuse_documents(wordpiece, ids_model):
    masker = TextMasker(wordpiece, max_length=LENGTH)
    truncated = masker.bind(LONG_TEXT, ids_model)
    masker.long_text = "window"
    windowed = masker.bind(LONG_TEXT, ids_model)
    assert windowed.n_features > truncated.n_features
    assert windowed.rows_per_mask > 1


def test_the_document_cache_is_bounded_and_its_arrays_read_only(wordpiece):
    from labelshap.modalities.text._document import DocumentCache, tokenize_document

    def document(text):
        return tokenize_document(
            TextMasker(wordpiece)._backend, text, max_length=None, long_text="truncate", stride=None
        )

    cache = DocumentCache(max_documents=2)
    for text in ("one text", "two texts", "three texts"):
        cache.put(text, document(text))
    assert cache.get("one text") is None
    assert cache.get("two texts") is not None and cache.get("three texts") is not None
    with pytest.raises(ValueError, match="read-only"):
        cache.get("two texts").ids[0] = 0

    long = document(" ".join(["word"] * 50))
    short = document("short text")
    assert len(short.ids) >= 2
    by_tokens = DocumentCache(max_tokens=len(long.ids) + 1)
    by_tokens.put("a", short)
    by_tokens.put("b", long)  # both together are over the limit: the older one goes
    assert by_tokens.get("a") is None and by_tokens.get("b") is long
    too_long = document(" ".join(["word"] * (len(long.ids) + 5)))
    by_tokens.put("c", too_long)  # over the limit alone: not kept
    assert by_tokens.get("c") is None and by_tokens.get("b") is long


def test_a_masker_pickles_without_its_cache(wordpiece, ids_model):
    import pickle

    masker = TextMasker(wordpiece)
    bound = masker.bind("A Python library for GTK.", ids_model)
    copy = pickle.loads(pickle.dumps(masker))
    again = copy.bind("A Python library for GTK.", ids_model)
    assert again.feature_names == bound.feature_names
    np.testing.assert_array_equal(again.clustering, bound.clustering)


def test_tokenising_reads_the_encodings_lists_once(wordpiece):
    # tokenizers' Encoding builds a new list each time .tokens or .word_ids is read; read
    # per token, a 100,000-token text took minutes.
    from labelshap.modalities.text._document import tokenize_document

    backend = TextMasker(wordpiece)._backend
    reads = {"tokens": 0, "word_ids": 0}

    class CountingEncoding:
        def __init__(self, encoding):
            self._encoding = encoding

        def __getattr__(self, name):
            if name in reads:
                reads[name] += 1
            return getattr(self._encoding, name)

    class CountingBackend:
        def encode(self, text):
            return CountingEncoding(backend.encode(text))

    text = " ".join(["python library"] * 40)
    document = tokenize_document(
        CountingBackend(), text, max_length=None, long_text="truncate", stride=None
    )
    assert len(document.tokens) >= 80
    assert reads == {"tokens": 1, "word_ids": 1}
