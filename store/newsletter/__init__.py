"""The newsletter: double opt-in sign-up, one-click unsubscribe, a consent record, staff-sent issues."""
