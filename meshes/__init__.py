"""Meshes of the unit sphere S^2 and the unit circle S^1 for DOLFINx."""
