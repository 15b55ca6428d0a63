"""Demo content for `make run`: the launch article from the seed page, more stories, staff accounts."""
