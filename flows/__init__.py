"""airwarn: flows."""
