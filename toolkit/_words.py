"""Counts written as words for log lines and pages: ``1 input``, ``2 inputs``."""

from __future__ import annotations

__all__ = ["counted"]


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``count`` and the noun in the number it takes; the plural adds ``s`` unless given.

    Examples:
        >>> counted(1, "input"), counted(3, "input"), counted(1_000, "modality", "modalities")
        ('1 input', '3 inputs', '1,000 modalities')
    """
    noun = singular if count == 1 else (plural or f"{singular}s")
    return f"{count:,} {noun}"
