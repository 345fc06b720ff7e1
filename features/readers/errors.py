"""The one error type of the readers: bad input, named by file, line, column and expectation."""

from __future__ import annotations

__all__ = ["ReaderError"]


class ReaderError(ValueError):
    """Bad input: the message names the file, the line / column and what was expected."""
