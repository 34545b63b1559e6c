"""API v1: the JSON endpoints link owners use."""
