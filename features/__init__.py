"""airwarn: features."""
