"""Atomic file writes — re-exported from the ground floor, :mod:`airwarn.core.atomic`."""

from airwarn.core.atomic import atomic_path, write_bytes_atomic, write_text_atomic, write_with

__all__ = ["atomic_path", "write_bytes_atomic", "write_text_atomic", "write_with"]
