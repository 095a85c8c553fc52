"""Every difference between the supported DOLFINx versions (0.5.2 to 0.9.0).

The rest of the project imports DOLFINx objects through the functions here and
reads as if there were a single DOLFINx. Each function documents the versions
whose behaviour it bridges. None of them is collective unless its docstring states it.
"""

import dolfinx
import dolfinx.fem
import dolfinx.fem.petsc
import dolfinx.mesh
import numpy as np
import ufl

DOLFINX_VERSION = tuple(int(part) for part in dolfinx.__version__.split(".")[:2])
"""(major, minor) of the DOLFINx in use."""

SUPPORTED_VERSIONS = ((0, 5), (0, 9))
"""Oldest and newest (major, minor) the project is tested with."""

_CELL_NAMES = {1: "interval", 2: "triangle"}


def _coordinate_element(tdim: int, gdim: int):
    """Return the degree-1 coordinate element of a tdim-simplex mesh in R^gdim.

    DOLFINx up to 0.6 takes a UFL mesh whose cell carries the geometric
    dimension; 0.7 and later take a basix.ufl element with shape (gdim,).
    """
    cell_name = _CELL_NAMES[tdim]
    if DOLFINX_VERSION < (0, 7):
        cell = ufl.Cell(cell_name, geometric_dimension=gdim)
        return ufl.Mesh(ufl.VectorElement("Lagrange", cell, 1))
    import basix.ufl

    return basix.ufl.element("Lagrange", cell_name, 1, shape=(gdim,))


def create_simplex_mesh(comm, cells: np.ndarray, points: np.ndarray, tdim: int, gdim: int):
    """Create a distributed mesh of intervals or triangles embedded in R^gdim.

    Collective. Rank 0 passes the whole mesh and every other rank passes empty
    arrays of the right shape; DOLFINx partitions the cells. Cells that share a
    facet across ranks are ghosted, which interior-facet integrals need.

    Args:
        comm: MPI communicator of the mesh.
        cells: Vertex indices, shape (num_cells, tdim + 1), int64.
        points: Vertex coordinates, shape (num_points, gdim).
        tdim: 1 for intervals, 2 for triangles.
        gdim: Dimension of the space the mesh is embedded in.
    """
    element = _coordinate_element(tdim, gdim)
    cells = np.ascontiguousarray(cells, dtype=np.int64)
    points = np.ascontiguousarray(points, dtype=np.float64)
    ghost_mode = dolfinx.mesh.GhostMode.shared_facet
    if DOLFINX_VERSION < (0, 7):
        return dolfinx.mesh.create_mesh(comm, cells, points, element, ghost_mode=ghost_mode)
    partitioner = dolfinx.mesh.create_cell_partitioner(ghost_mode)
    return dolfinx.mesh.create_mesh(comm, cells, points, element, partitioner=partitioner)


def function_space(msh, family: str, degree: int, shape: tuple = ()):
    """Create a (blocked) Lagrange-type function space on msh.

    0.5 builds it from a UFL element; 0.7 and later take (family, degree, shape).
    """
    if DOLFINX_VERSION < (0, 7):
        if shape:
            element = ufl.VectorElement(family, msh.ufl_cell(), degree, dim=shape[0])
        else:
            element = ufl.FiniteElement(family, msh.ufl_cell(), degree)
        return dolfinx.fem.FunctionSpace(msh, element)
    if shape:
        return dolfinx.fem.functionspace(msh, (family, degree, shape))
    return dolfinx.fem.functionspace(msh, (family, degree))


def geometry_dofmap(msh) -> np.ndarray:
    """Return the geometry nodes of each local cell, shape (num_cells, nodes_per_cell).

    0.5 stores an AdjacencyList; 0.7 and later store a 2D array.
    """
    dofmap = msh.geometry.dofmap
    if isinstance(dofmap, np.ndarray):
        return dofmap.reshape(dofmap.shape[0], -1)
    num_cells = len(dofmap.offsets) - 1
    return dofmap.array.reshape(num_cells, -1)


def cell_dofs(space) -> np.ndarray:
    """Return the (block) dofs of each local cell, shape (num_cells, dofs_per_cell)."""
    dofs = space.dofmap.list
    if isinstance(dofs, np.ndarray):
        return dofs.reshape(dofs.shape[0], -1)
    num_cells = len(dofs.offsets) - 1
    return dofs.array.reshape(num_cells, -1)


def connectivity_array(msh, source_dim: int, target_dim: int) -> np.ndarray:
    """Return the source-to-target entity connectivity as a 2D array.

    Only for connectivities with a fixed number of links per entity, such as
    cell-to-facet or facet-to-vertex. Creates the connectivity if needed.
    """
    msh.topology.create_connectivity(source_dim, target_dim)
    links = msh.topology.connectivity(source_dim, target_dim)
    num_entities = len(links.offsets) - 1
    return links.array.reshape(num_entities, -1)


def original_cell_index(msh) -> np.ndarray:
    """Return the input index of each local cell (owned and ghost), int64."""
    return np.asarray(msh.topology.original_cell_index, dtype=np.int64)


def petsc_vector(function):
    """Return the PETSc vector that wraps a Function's values.

    0.5 calls it Function.vector; 0.8 and later Function.x.petsc_vec.
    """
    if DOLFINX_VERSION < (0, 8):
        return function.vector
    return function.x.petsc_vec


def assemble_matrix(form):
    """Assemble a bilinear form into a new, finalized PETSc matrix."""
    matrix = dolfinx.fem.petsc.assemble_matrix(form)
    matrix.assemble()
    return matrix


def assemble_matrix_into(matrix, form):
    """Assemble a bilinear form into an existing PETSc matrix with the same pattern."""
    matrix.zeroEntries()
    dolfinx.fem.petsc.assemble_matrix(matrix, form)
    matrix.assemble()
