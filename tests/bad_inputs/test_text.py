"""Bad text inputs: each kind gets a clear error or is handled (see docs/bad-inputs.md)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from bad_inputs.cases import Context, check_bound, refuse, run_item

from labelshap.modalities.text.masker import LongTextWarning


def text_accepted(text: Any, *, strings: bool = False, features: int | None = None) -> Any:
    def case(ctx: Context) -> None:
        masker = ctx.strings_masker if strings else ctx.text_masker
        model = ctx.strings_model if strings else ctx.ids_model
        prepared, bound = run_item(masker, text, model)
        check_bound(masker, prepared, bound, model)
        if features is not None:
            assert bound.n_features == features

    return case


def text_refused(kind: type[Exception], pattern: str, item: Any, *, bind: bool = False) -> Any:
    def action(ctx: Context) -> None:
        if bind:
            ctx.text_masker.bind(item, ctx.ids_model)
        else:
            run_item(ctx.text_masker, item, ctx.ids_model)

    return refuse(kind, pattern, action)


# The text cases


def long_text_is_truncated_with_a_warning(ctx: Context) -> None:
    text = "python module " * 40
    with pytest.warns(
        LongTextWarning,
        match=r"1 of 1 texts are longer than the model's 16 tokens; only their first 14 text "
        r"tokens .* Pass long_text='window' \(command line: --long-text window\)",
    ):
        prepared, bound = run_item(ctx.text_masker, text, ctx.ids_model)
    start, end = bound.extras["explained_range"]
    assert start == 0 and 0 < end < len(text)
    check_bound(ctx.text_masker, prepared, bound, ctx.ids_model)


def long_text_is_read_in_windows(ctx: Context) -> None:
    text = "python module " * 40
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepared, bound = run_item(ctx.window_masker, text, ctx.ids_model)
    assert bound.rows_per_mask > 1 and bound.n_features == 80
    check_bound(ctx.window_masker, prepared, bound, ctx.ids_model)


def non_utf8_file_read_as_bytes(ctx: Context) -> None:
    raw = (ctx.files / "latin1.txt").read_bytes()
    with pytest.raises(ValueError, match=r"inputs\[0\] is bytes that are not UTF-8 .* at byte 3"):
        run_item(ctx.text_masker, raw, ctx.ids_model)


TEXT_CASES = [
    pytest.param(text_accepted("", features=0), id="text-empty-string"),
    pytest.param(text_accepted(" \t\n  ", features=0), id="text-whitespace-only"),
    pytest.param(
        text_refused(ValueError, r"inputs\[0\] is bytes that are not UTF-8", b"\xff\xfe python"),
        id="text-non-utf8-bytes",
    ),
    pytest.param(non_utf8_file_read_as_bytes, id="text-non-utf8-file-read-as-bytes"),
    pytest.param(text_accepted("python\x01\x02 module\x1b[31m gtk"), id="text-control-characters"),
    pytest.param(text_accepted("python\x00module"), id="text-nul-inside"),
    pytest.param(
        text_accepted("python module\x00", strings=True), id="text-trailing-nul-string-model"
    ),
    pytest.param(text_accepted("\x00", features=0), id="text-nul-only"),
    pytest.param(text_accepted("python [MASK] module [CLS]"), id="text-special-token-strings"),
    pytest.param(long_text_is_truncated_with_a_warning, id="text-too-long-truncated-with-warning"),
    pytest.param(long_text_is_read_in_windows, id="text-too-long-read-in-windows"),
    pytest.param(
        text_refused(TypeError, r"inputs\[0\] is a NoneType \(None\); accepted: str", None),
        id="text-none",
    ),
    pytest.param(
        text_refused(TypeError, r"inputs\[0\] is a int \(42\); accepted: str", 42),
        id="text-number",
    ),
    pytest.param(
        refuse(
            TypeError,
            r"inputs of type 'float' .*accepted: str",
            lambda ctx: ctx.text_masker.prepare(4.5, ctx.ids_model),
        ),
        id="text-number-as-the-whole-input",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"inputs holds no texts",
            lambda ctx: ctx.text_masker.prepare([], ctx.ids_model),
        ),
        id="text-empty-list",
    ),
    pytest.param(
        text_refused(
            ValueError, r"lone surrogate '\\udcff' at character 3.*accepted", "abc\udcffdef"
        ),
        id="text-lone-surrogate",
    ),
    pytest.param(
        text_refused(TypeError, r"item is a NoneType \(None\); accepted", None, bind=True),
        id="text-none-bound-without-prepare",
    ),
    pytest.param(
        text_refused(TypeError, r"item is a int \(7\); accepted", 7, bind=True),
        id="text-number-bound-without-prepare",
    ),
]


@pytest.mark.parametrize("case", TEXT_CASES)
def test_text_input(ctx, case):
    case(ctx)
