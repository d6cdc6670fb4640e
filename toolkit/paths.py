"""Where labelshap keeps trained models and finds the shared real data."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "shared_data_file"]

_REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir(*parts: str) -> Path:
    """Return (and create) labelshap's cache directory, or a subdirectory of it.

    The location is ``$LABELSHAP_CACHE`` when set, else ``$XDG_CACHE_HOME/labelshap``,
    else ``~/.cache/labelshap``.

    Args:
        *parts: Optional subdirectory names below the cache root.

    Returns:
        The directory, created if it did not exist.
    """
    root = os.environ.get("LABELSHAP_CACHE")
    if root is None:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = str(Path(xdg) / "labelshap")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_data_file(name: str) -> Path:
    """Locate a real data file that ships beside the project in ``shared/data``.

    Looks in ``$LABELSHAP_DATA`` first, then in ``shared/data`` next to the source
    checkout, then in ``../shared/data`` relative to the working directory.

    Args:
        name: File name, for example ``"debtags.jsonl.gz"``.

    Returns:
        The path of the first existing candidate.

    Raises:
        FileNotFoundError: If no candidate exists; the message lists every place tried.
    """
    candidates = []
    if os.environ.get("LABELSHAP_DATA"):
        candidates.append(Path(os.environ["LABELSHAP_DATA"]) / name)
    candidates += [
        _REPO_ROOT.parent / "shared" / "data" / name,
        Path.cwd().parent / "shared" / "data" / name,
        Path.cwd() / "shared" / "data" / name,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"data file {name!r} not found; tried {tried}. Set LABELSHAP_DATA to the folder "
        "that holds it."
    )
