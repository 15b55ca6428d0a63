"""The staff area: dashboard and article editing (other domains add their own staff routes)."""
