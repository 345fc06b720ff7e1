"""Readers: raw files (station observations, meteorology, benchmark sets) to canonical tables."""
