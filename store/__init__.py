"""Red Revolution Media: news, shop, donations and newsletter."""
