"""airwarn: products."""
