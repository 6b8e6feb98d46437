"""The storage wing: Store implementations and their migrations."""
