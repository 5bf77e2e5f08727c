"""Long-running services of the addon that are not models (the push worker)."""
