"""Donations: one-off (PaymentIntent) and monthly support (Subscription), through store.payment."""
