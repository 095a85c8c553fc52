"""Cell and facet geometry of a sphere mesh, as NumPy arrays on each rank.

The density lives on cells and the velocity on facets (edges of a triangle
mesh, vertices of a circle mesh). The interaction needs points on the sphere,
so centroids and facet midpoints are also projected radially onto it.
``SphereGeometry`` is built collectively; its arrays are rank-local.
"""

import numpy as np

from meshes.dolfinx_compat import connectivity_array, geometry_dofmap, original_cell_index


def _vertex_coordinates(msh) -> np.ndarray:
    """Return the coordinates of each local topological vertex, shape (num_vertices, 3)."""
    tdim = msh.topology.dim
    cell_vertices = connectivity_array(msh, tdim, 0)
    nodes = geometry_dofmap(msh)[:, : tdim + 1]
    vertex_map = msh.topology.index_map(0)
    coordinates = np.empty((vertex_map.size_local + vertex_map.num_ghosts, 3))
    coordinates[cell_vertices.ravel()] = msh.geometry.x[nodes.ravel()]
    return coordinates


class SphereGeometry:
    """Cell sizes, centroids and facet midpoints of a mesh of S^1 or S^2.

    Attributes:
        dim: Dimension d of the ambient space R^d.
        num_owned_cells: Cells owned by this rank (they come first).
        cell_sizes: Flat cell areas (lengths on S^1) of local cells, shape (num_cells,).
        cell_points: Centroids projected onto the sphere, shape (num_cells, d).
        cell_centroids: Flat-cell centroids, shape (num_cells, d).
        facet_points: Facet midpoints projected onto the sphere, shape (num_facets, d).
        original_cells: Input index of each local cell, shape (num_cells,).
        owned_cell_vertices: Global vertex indices of the owned cells, shape
            (num_owned_cells, tdim + 1).
    """

    def __init__(self, msh):
        tdim = msh.topology.dim
        self.dim = tdim + 1
        cell_map = msh.topology.index_map(tdim)
        self.num_owned_cells = cell_map.size_local
        num_cells = cell_map.size_local + cell_map.num_ghosts

        # 1. Cells: vertex coordinates (num_cells, tdim + 1, d), centroid and size.
        nodes = geometry_dofmap(msh)[:num_cells, : tdim + 1]
        corners = msh.geometry.x[nodes][:, :, : self.dim]
        self.cell_centroids = corners.mean(axis=1)
        edge_vectors = corners[:, 1:] - corners[:, :1]
        if tdim == 2:
            self.cell_sizes = 0.5 * np.linalg.norm(
                np.cross(edge_vectors[:, 0], edge_vectors[:, 1]), axis=1
            )
        else:
            self.cell_sizes = np.linalg.norm(edge_vectors[:, 0], axis=1)
        self.cell_points = _project(self.cell_centroids)

        # 2. Facets: midpoints of the facet's vertices.
        vertex_coordinates = _vertex_coordinates(msh)[:, : self.dim]
        facet_vertices = connectivity_array(msh, tdim - 1, 0)
        self.facet_points = _project(vertex_coordinates[facet_vertices].mean(axis=1))
        self.original_cells = original_cell_index(msh)[:num_cells]

        # 3. Global vertex indices of the owned cells, for the cluster count.
        cell_vertices = connectivity_array(msh, tdim, 0)[: self.num_owned_cells]
        vertex_map = msh.topology.index_map(0)
        self.owned_cell_vertices = vertex_map.local_to_global(
            cell_vertices.ravel().astype(np.int32)
        ).reshape(cell_vertices.shape)


def _project(points: np.ndarray) -> np.ndarray:
    return points / np.linalg.norm(points, axis=1, keepdims=True)
