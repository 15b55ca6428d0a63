"""Staff accounts, roles, server-side sessions and login throttling."""
