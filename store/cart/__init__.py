"""The guest cart: server-side rows referenced by a signed cookie; prices always from the catalogue."""
