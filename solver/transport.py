"""One semi-implicit step of the continuity equation, as finite-element forms.

The density rho is piecewise constant (DG0) and the velocity u is given at
facet midpoints (one value per facet, in a space whose only degree of freedom
per facet is its midpoint value: Crouzeix-Raviart on triangles, P1 on
intervals). With the velocity frozen at rho^n, backward Euler gives

    int rho^{n+1} w / dt dx + int F(rho^{n+1}) [w] dS + eps int [rho^{n+1}][w] / d dS
        = int rho^n w / dt dx

for every DG0 test function w, where [.] is the jump '+' minus '-' and d is
the distance between the circumcentres of the two cells of a facet, measured
through the facet (the two-point flux of the Voronoi-Delaunay dual). The upwind
flux F = max(u.n_e, 0) rho('+') + min(u.n_e, 0) rho('-') uses a single
facet normal n_e = (n('+') - n('-')) / |n('+') - n('-')|. On a triangulated
sphere the co-normals of the two cells of an edge are not exactly opposite.
n_e is the same vector whichever cell DOLFINx calls '+'. So each facet carries
one flux, mass is conserved to round-off, and the result does not depend on
the partition. The matrix is an M-matrix (positive diagonal, nonpositive
off-diagonal entries, zero column sums in the flux part), so rho^n >= 0 gives
rho^{n+1} >= 0 for every dt.

Everything here is collective over the mesh communicator.
"""

import logging

import dolfinx.fem
import dolfinx.fem.petsc
import numpy as np
import ufl
from petsc4py import PETSc

from meshes.dolfinx_compat import (
    assemble_matrix,
    assemble_matrix_into,
    cell_dofs,
    connectivity_array,
    function_space,
    petsc_vector,
)
from solver.config import ConfigError
from solver.timing import PhaseTimer

logger = logging.getLogger(__name__)

OPTIONS_PREFIX = "attnflow_transport_"


class MeshQualityError(ValueError):
    """A mesh that the requested discretization cannot use; the message gives the fix."""


class TransportSolver:
    """Forms, matrix and KSP of the implicit transport(-diffusion) step.

    Attributes:
        density: The DG0 density, named "density": rho^n before a step and
            rho^{n+1} after it.
        velocity: Velocity at facet midpoints.
    """

    def __init__(self, msh, dt: float, diffusion: float, petsc_options: dict,
                 facet_dual_distances: np.ndarray | None = None):
        self.msh = msh
        tdim = msh.topology.dim
        gdim = tdim + 1
        self.cells = function_space(msh, "DG", 0)
        facet_family = "CR" if tdim == 2 else "Lagrange"
        self.facets = function_space(msh, facet_family, 1, shape=(gdim,))

        self.density = dolfinx.fem.Function(self.cells, name="density")
        self.previous = dolfinx.fem.Function(self.cells)
        self.velocity = dolfinx.fem.Function(self.facets, name="velocity")
        self.dt = dolfinx.fem.Constant(msh, PETSc.ScalarType(dt))
        self.diffusion = diffusion

        self.facet_dof, self.owned_facets = _map_facet_dofs(msh, self.facets)
        self.dual_distance = None
        if diffusion > 0.0:
            if facet_dual_distances is None:
                raise ValueError("diffusion > 0 needs the facet dual distances")
            scalar_space = function_space(msh, facet_family, 1)
            self.dual_distance = dolfinx.fem.Function(scalar_space)
            scalar_dof, owned = _map_facet_dofs(msh, scalar_space)
            tdim = msh.topology.dim
            cells_per_facet = np.bincount(
                connectivity_array(msh, tdim, tdim - 1).ravel(), minlength=len(scalar_dof)
            )
            if msh.comm.allreduce(bool(np.any(cells_per_facet[owned] != 2))):
                raise RuntimeError("an owned facet lacks a local cell; the mesh needs "
                                   "shared-facet ghosting for the diffusion flux")
            if msh.comm.allreduce(bool(np.any(facet_dual_distances[owned] <= 0.0))):
                raise MeshQualityError(
                    "model.diffusion > 0 needs a Delaunay mesh (the two angles opposite each "
                    "edge sum to less than 180 degrees), and this mesh is not; refine or "
                    "flip its edges, or set model.diffusion to 0"
                )
            self.dual_distance.x.array[scalar_dof[owned]] = facet_dual_distances[owned]
            self.dual_distance.x.scatter_forward()
        self._build_forms(gdim)
        self._build_solver(petsc_options)

    def _build_forms(self, gdim: int):
        msh = self.msh
        rho, w = ufl.TrialFunction(self.cells), ufl.TestFunction(self.cells)
        dx = ufl.Measure("dx", domain=msh)
        # One quadrature point per facet: its midpoint, where the velocity dof sits.
        dS = ufl.Measure("dS", domain=msh, metadata={"quadrature_degree": 1})

        n = ufl.FacetNormal(msh)
        normal_jump = n("+") - n("-")
        facet_normal = normal_jump / ufl.sqrt(ufl.dot(normal_jump, normal_jump))
        normal_speed = ufl.dot(ufl.avg(self.velocity), facet_normal)
        outflow = (normal_speed + abs(normal_speed)) / 2
        inflow = (normal_speed - abs(normal_speed)) / 2
        flux = outflow * rho("+") + inflow * rho("-")

        a = rho * w / self.dt * dx + flux * ufl.jump(w) * dS
        if self.dual_distance is not None:
            eps = dolfinx.fem.Constant(msh, PETSc.ScalarType(self.diffusion))
            a += eps * ufl.jump(rho) * ufl.jump(w) / ufl.avg(self.dual_distance) * dS
        L = self.previous * w / self.dt * dx

        self.a = dolfinx.fem.form(a)
        self.L = dolfinx.fem.form(L)

    def _build_solver(self, petsc_options: dict):
        self.matrix = assemble_matrix(self.a)
        self.rhs = dolfinx.fem.petsc.create_vector(self.L)

        # The options live in PETSc's global database only while the objects read
        # them, so a second solver in the same process starts from its own options.
        options = PETSc.Options()
        for key, value in petsc_options.items():
            options[OPTIONS_PREFIX + key] = value
        self.ksp = PETSc.KSP().create(self.msh.comm)
        self.ksp.setOptionsPrefix(OPTIONS_PREFIX)
        self.ksp.setOperators(self.matrix)
        self.matrix.setOptionsPrefix(OPTIONS_PREFIX)
        try:
            self.ksp.setFromOptions()
            self.matrix.setFromOptions()
        except PETSc.Error as error:
            raise ConfigError(
                f"invalid solver.petsc_options {petsc_options}: PETSc rejected them (error "
                f"code {error.ierr}); check the option names and values"
            ) from None
        finally:
            for key in petsc_options:
                options.delValue(OPTIONS_PREFIX + key)

    def facet_targets(self, facet_points: np.ndarray) -> np.ndarray:
        """Return the points where this rank computes the velocity, shape (n, d)."""
        return facet_points[self.owned_facets]

    def set_velocity(self, values: np.ndarray):
        """Set the velocity at this rank's owned facets and update the ghosts.

        Args:
            values: Velocity at facet_targets(...), shape (num_owned_facets, d).
        """
        block = self.facets.dofmap.index_map_bs
        array = self.velocity.x.array.reshape(-1, block)
        array[self.facet_dof[self.owned_facets]] = values
        self.velocity.x.scatter_forward()

    def step(self, dt: float, timer: PhaseTimer | None = None) -> int:
        """Advance density by one step of size dt; return the KSP iteration count."""
        timer = timer or PhaseTimer()
        self.dt.value = dt
        self.previous.x.array[:] = self.density.x.array

        with timer.phase("assembly"):
            assemble_matrix_into(self.matrix, self.a)
            with self.rhs.localForm() as local:
                local.set(0.0)
            dolfinx.fem.petsc.assemble_vector(self.rhs, self.L)
            self.rhs.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)

        with timer.phase("solve"):
            self.ksp.setOperators(self.matrix)
            try:
                self.ksp.solve(self.rhs, petsc_vector(self.density))
            except PETSc.Error as error:
                raise RuntimeError(
                    f"transport solve failed with PETSc error code {error.ierr}; check "
                    "solver.petsc_options (for example pc_factor_mat_solver_type)"
                ) from None
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            raise RuntimeError(
                f"transport solve failed to converge (PETSc KSP reason {reason}); check "
                "solver.petsc_options (tolerances, iteration limit) or use a smaller time.dt"
            )
        self.density.x.scatter_forward()
        return self.ksp.getIterationNumber()


def _map_facet_dofs(msh, space) -> tuple[np.ndarray, np.ndarray]:
    """Link each facet to its dof (block index) in a space with one dof per facet.

    Returns the dof of every local facet, shape (num_facets,), and the facets
    whose dof this rank owns.
    """
    tdim = msh.topology.dim
    cell_facets = connectivity_array(msh, tdim, tdim - 1)
    dofs = cell_dofs(space)
    num_cells = dofs.shape[0]
    num_facets = connectivity_array(msh, tdim - 1, 0).shape[0]
    facet_dof = np.full(num_facets, -1, dtype=np.int64)
    facet_dof[cell_facets[:num_cells].ravel()] = dofs.ravel()
    owned_dofs = space.dofmap.index_map.size_local
    owned_facets = np.flatnonzero((facet_dof >= 0) & (facet_dof < owned_dofs))
    return facet_dof, owned_facets
