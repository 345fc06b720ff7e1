"""airwarn — the ground floor (:mod:`airwarn.core`) that every package may use.

The packages (``configs features models alerts products flows``) keep their top-level import
names for now; :mod:`airwarn.core` imports none of them.
"""
