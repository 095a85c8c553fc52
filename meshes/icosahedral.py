"""Icosahedral triangulations of the unit sphere S^2.

Level L splits each face of the icosahedron into 4^L triangles, so the mesh has
20 * 4^L cells and 10 * 4^L + 2 vertices. Every vertex lies on the unit sphere
and every cell is oriented so that its normal (v1 - v0) x (v2 - v0) points
outward. ``create_icosahedral_sphere`` is collective.
"""

import numpy as np


MAX_LEVEL = 10
"""Finest refinement level accepted (about 21 million cells)."""


def icosahedron() -> tuple[np.ndarray, np.ndarray]:
    """Return the vertices (12, 3) and outward-oriented faces (20, 3) of the icosahedron."""
    golden = (1.0 + np.sqrt(5.0)) / 2.0
    points = np.array(
        [
            [-1, golden, 0], [1, golden, 0], [-1, -golden, 0], [1, -golden, 0],
            [0, -1, golden], [0, 1, golden], [0, -1, -golden], [0, 1, -golden],
            [golden, 0, -1], [golden, 0, 1], [-golden, 0, -1], [-golden, 0, 1],
        ],
        dtype=np.float64,
    )
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    cells = np.array(
        [
            [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
            [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
            [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
            [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1],
        ],
        dtype=np.int64,
    )
    return points, orient_outward(points, cells)


def orient_outward(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Return cells with the last two vertices swapped where the normal points inward."""
    a, b, c = (points[cells[:, i]] for i in range(3))
    inward = np.einsum("ij,ij->i", np.cross(b - a, c - a), a + b + c) < 0.0
    oriented = cells.copy()
    oriented[inward, 1], oriented[inward, 2] = cells[inward, 2], cells[inward, 1]
    return oriented


def refine_on_sphere(points: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split each triangle into four at its edge midpoints, projected onto the sphere.

    Children keep the orientation of their parent.
    """
    # 1. Number the edges: each undirected edge once, in sorted vertex order.
    edges = np.concatenate([cells[:, [1, 2]], cells[:, [2, 0]], cells[:, [0, 1]]])
    edges.sort(axis=1)
    unique_edges, edge_of = np.unique(edges, axis=0, return_inverse=True)
    edge_of = edge_of.reshape(3, -1).T  # (num_cells, 3): edge opposite vertex i

    # 2. One new vertex per edge, on the unit sphere.
    midpoints = points[unique_edges[:, 0]] + points[unique_edges[:, 1]]
    midpoints /= np.linalg.norm(midpoints, axis=1, keepdims=True)
    new_points = np.concatenate([points, midpoints])

    # 3. Four children per cell; m_i is the midpoint opposite vertex i.
    v0, v1, v2 = cells.T
    m0, m1, m2 = (edge_of[:, i] + len(points) for i in range(3))
    children = np.concatenate(
        [
            np.stack([v0, m2, m1], axis=1),
            np.stack([m2, v1, m0], axis=1),
            np.stack([m1, m0, v2], axis=1),
            np.stack([m0, m1, m2], axis=1),
        ]
    )
    return new_points, children


def icosahedral_sphere_arrays(level: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the vertices and cells of the icosahedral sphere of the given level."""
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"invalid sphere refinement level {level}: expected 0 to {MAX_LEVEL}")
    points, cells = icosahedron()
    for _ in range(level):
        points, cells = refine_on_sphere(points, cells)
    return points, cells


def create_icosahedral_sphere(comm, level: int):
    """Create the icosahedral sphere of the given level, distributed over comm.

    Collective. Rank 0 builds the whole mesh and DOLFINx partitions it.
    """
    from meshes.dolfinx_compat import create_simplex_mesh  # DOLFINx only when a mesh is built

    if comm.rank == 0:
        points, cells = icosahedral_sphere_arrays(level)
    else:
        points, cells = np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    return create_simplex_mesh(comm, cells, points, tdim=2, gdim=3)
