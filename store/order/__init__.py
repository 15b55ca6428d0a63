"""Orders: frozen lines, totals and VAT; the status machine and its history."""
