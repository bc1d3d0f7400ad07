"""Data files of de-identification (pools, ZIP3 list)."""
