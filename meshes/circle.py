"""Meshes of the unit circle S^1: N equal segments embedded in the plane R^2.

Vertex k sits at angle 2 pi k / N; segment k runs from vertex k to k + 1
(counterclockwise). ``create_circle`` is collective.
"""

import numpy as np



def circle_arrays(segments: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the vertices (segments, 2) and segments (segments, 2) of the circle mesh."""
    if segments < 3:
        raise ValueError(f"invalid number of circle segments {segments}: expected at least 3")
    angles = 2.0 * np.pi * np.arange(segments) / segments
    points = np.column_stack([np.cos(angles), np.sin(angles)])
    start = np.arange(segments, dtype=np.int64)
    cells = np.column_stack([start, (start + 1) % segments])
    return points, cells


def create_circle(comm, segments: int):
    """Create the circle mesh of the given number of segments, distributed over comm.

    Collective. Rank 0 builds the whole mesh and DOLFINx partitions it.
    """
    from meshes.dolfinx_compat import create_simplex_mesh  # DOLFINx only when a mesh is built

    if comm.rank == 0:
        points, cells = circle_arrays(segments)
    else:
        points, cells = np.zeros((0, 2)), np.zeros((0, 2), dtype=np.int64)
    return create_simplex_mesh(comm, cells, points, tdim=1, gdim=2)
