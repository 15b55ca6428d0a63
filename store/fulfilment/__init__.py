"""Fulfilment: getting paid orders printed and shipped."""
