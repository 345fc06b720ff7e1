"""airwarn: models."""
