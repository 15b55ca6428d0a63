"""The shop catalogue: products, variants, images, collections."""
