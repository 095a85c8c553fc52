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
        cell_points: Circumcentres projected onto the sphere, shape (num_cells, d).
            The density value of a cell is read as its value at this point, so
            the two-point diffusion flux is consistent (see transport).
        cell_centroids: Flat-cell centroids, shape (num_cells, d).
        facet_points: Facet midpoints projected onto the sphere, shape (num_facets, d).
        original_cells: Input index of each local cell, shape (num_cells,).
        owned_cell_vertices: Global vertex indices of the owned cells, shape
            (num_owned_cells, tdim + 1).
        facet_dual_distances: Distance between the circumcentres of a facet's two
            cells, measured through the facet's midpoint in each cell's plane,
            shape (num_facets,). Valid for facets whose two cells are local.
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
        self.cell_points = _project(_circumcentres(corners))

        # 2. Facets: midpoints of the facet's vertices.
        vertex_coordinates = _vertex_coordinates(msh)[:, : self.dim]
        facet_vertices = connectivity_array(msh, tdim - 1, 0)
        self.facet_points = _project(vertex_coordinates[facet_vertices].mean(axis=1))
        self.original_cells = original_cell_index(msh)[:num_cells]

        # 3. Circumcentre-to-facet distances, for the two-point diffusion flux. The
        #    line between two circumcentres crosses the shared facet at a right
        #    angle, which makes that flux consistent (the centroid line does not).
        cell_facets = connectivity_array(msh, tdim, tdim - 1)[:num_cells]
        half_distances = _circumcentre_facet_distances(corners)
        self.facet_dual_distances = np.zeros(len(facet_vertices))
        np.add.at(self.facet_dual_distances, cell_facets.ravel(), half_distances.ravel())

        # 4. Global vertex indices of the owned cells, for the cluster count.
        cell_vertices = connectivity_array(msh, tdim, 0)[: self.num_owned_cells]
        vertex_map = msh.topology.index_map(0)
        self.owned_cell_vertices = vertex_map.local_to_global(
            cell_vertices.ravel().astype(np.int32)
        ).reshape(cell_vertices.shape)


def _circumcentres(corners: np.ndarray) -> np.ndarray:
    """Return the circumcentre of each cell in its own plane, shape (num_cells, d).

    The circumcentre of an interval is its midpoint.
    """
    if corners.shape[1] == 2:
        return corners.mean(axis=1)
    a = corners[:, 0]
    ab, ac = corners[:, 1] - a, corners[:, 2] - a
    normal = np.cross(ab, ac)
    offset = (np.cross(normal, ab) * np.einsum("ij,ij->i", ac, ac)[:, None]
              + np.cross(ac, normal) * np.einsum("ij,ij->i", ab, ab)[:, None])
    return a + offset / (2.0 * np.einsum("ij,ij->i", normal, normal))[:, None]


def _circumcentre_facet_distances(corners: np.ndarray) -> np.ndarray:
    """Return the signed distance from each cell's circumcentre to each of its facets.

    Args:
        corners: Vertex coordinates, shape (num_cells, tdim + 1, d).

    Returns:
        Shape (num_cells, tdim + 1). Entry i is for facet i in the DOLFINx
        reference numbering: the edge opposite vertex i on a triangle, vertex i
        on an interval. On a triangle it is |e_i| / 2 * cot(angle at vertex i),
        negative for an obtuse angle. On an interval it is half the length.
    """
    if corners.shape[1] == 2:
        half = 0.5 * np.linalg.norm(corners[:, 1] - corners[:, 0], axis=1)
        return np.column_stack([half, half])
    distances = np.empty(corners.shape[:2])
    for i in range(3):
        to_next = corners[:, (i + 1) % 3] - corners[:, i]
        to_previous = corners[:, (i + 2) % 3] - corners[:, i]
        cosine_term = np.einsum("ij,ij->i", to_next, to_previous)
        sine_term = np.linalg.norm(np.cross(to_next, to_previous), axis=1)
        edge_length = np.linalg.norm(to_next - to_previous, axis=1)
        distances[:, i] = 0.5 * edge_length * cosine_term / sine_term
    return distances


def _project(points: np.ndarray) -> np.ndarray:
    return points / np.linalg.norm(points, axis=1, keepdims=True)
