"""Finite-element solver for the mean-field dynamics of self-attention on the sphere."""
