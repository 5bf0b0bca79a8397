"""Packaged detection data: label kinetics, method table (review Table 2), products (review Table 1)."""
