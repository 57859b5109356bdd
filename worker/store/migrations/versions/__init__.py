"""The revisions, oldest first: `v<N>_….py` holds revision "N" (the schema version N)."""
