"""Data: turning image sources into a prepared dataset file, and reading prepared datasets fast."""
