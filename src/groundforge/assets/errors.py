"""Errors of the assets stage."""

from __future__ import annotations

from pathlib import Path


class AssetError(Exception):
    """A user asset (mesh file) that cannot be used; the message says what is wrong and the fix."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = Path(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")
