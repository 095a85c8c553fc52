"""Interaction sums Z and H between weighted source points and target points on the sphere."""
