"""Articles, authors, feeds."""
