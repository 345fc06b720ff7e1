"""airwarn: alerts."""
