"""The discrete problem of one experiment: mesh, density, interaction, transport.

One semi-implicit step reads straight down:

    density rho^n -> Z, H at facet midpoints (nonlocal, explicit)
                  -> velocity at facet midpoints
                  -> implicit upwind transport solve -> rho^{n+1}

Building a Simulation and every method of it are collective over comm.
"""

import logging

import numpy as np

from meshes.circle import create_circle
from meshes.from_file import read_sphere_mesh
from meshes.icosahedral import create_icosahedral_sphere
from solver.checkpoint import mesh_identity
from solver.config import ConfigError, MeshSettings, Settings
from solver.diagnostics import (
    CLUSTER_THRESHOLD,
    ClusterCounter,
    density_diagnostics,
    max_speed_on_support,
    total,
)
from solver.geometry import SphereGeometry
from solver.initial import initial_density
from solver.interaction.select import create_interaction
from solver.model import AttentionModel
from solver.timing import PhaseTimer
from solver.transport import TransportSolver

logger = logging.getLogger(__name__)


def create_sphere_mesh(comm, settings: MeshSettings):
    """Create the mesh that the mesh settings describe (collective)."""
    if settings.sphere == "S1":
        return create_circle(comm, settings.segments)
    if settings.file is not None:
        return read_sphere_mesh(comm, settings.file)
    return create_icosahedral_sphere(comm, settings.level)


class Simulation:
    """State and operators of one run, distributed over a communicator.

    Attributes:
        msh: The DOLFINx mesh.
        geometry: Cell and facet geometry arrays of this rank.
        model: The attention model.
        transport: The transport solver; transport.density is the current density.
    """

    def __init__(self, settings: Settings, comm):
        self.settings = settings
        self.comm = comm
        self.timer = PhaseTimer()
        self.msh = create_sphere_mesh(comm, settings.mesh)
        self.mesh_id = mesh_identity(settings.mesh)
        self.geometry = SphereGeometry(self.msh)
        self.model = AttentionModel.from_settings(settings)
        self.transport = TransportSolver(
            self.msh, settings.time.dt, settings.model.diffusion, settings.solver.petsc_options,
            self.geometry.facet_dual_distances,
        )
        self.num_owned = self.geometry.num_owned_cells
        self.facet_targets = self.transport.facet_targets(self.geometry.facet_points)
        self.count_clusters = ClusterCounter(
            comm, self.geometry.owned_cell_vertices,
            self.geometry.original_cells[: self.num_owned],
        )
        self.num_cells = int(total(comm, self.num_owned))
        num_cells = self.num_cells
        logger.info("mesh: %s with %d cells on %d ranks", settings.mesh.sphere, num_cells,
                    comm.size)
        self.interaction = self._create_interaction()
        logger.info("%s", self.interaction.description)
        if not self.model.has_energy:
            logger.info("energy and dissipation_rate are left empty: the energy exists only "
                        "for symmetric A = V (a gradient flow)")

    def _create_interaction(self):
        # Targets per step: the facets (velocity) and the cells (diagnostics).
        num_targets = self.num_cells + int(total(self.comm, len(self.facet_targets)))
        try:
            return create_interaction(
                self.settings.interaction.method, self.model.beta, self.model.A,
                self.model.dimension, self.num_cells, num_targets,
                tolerance=self.settings.interaction.tolerance,
            )
        except ValueError as error:
            raise ConfigError(f"invalid interaction settings: {error}") from None

    def set_initial_density(self, checkpoint_density=None):
        """Set the initial density of the settings (collective).

        Args:
            checkpoint_density: Density by input cell index, shape (num_cells,),
                for initial type 'file'.
        """
        local_values = None
        if checkpoint_density is not None:
            local_values = checkpoint_density[self.geometry.original_cells]
        values = initial_density(
            self.settings.initial, self.geometry.cell_points, self.geometry.cell_sizes,
            self.num_owned, self.comm, local_values,
        )
        self.density.x.array[: len(values)] = values
        self.density.x.scatter_forward()

    @property
    def density(self):
        """The DG0 density Function (current time level)."""
        return self.transport.density

    def owned_density(self) -> np.ndarray:
        """Return the density at the owned cells, shape (num_owned,)."""
        return self.density.x.array[: self.num_owned]

    def interaction_sums(self, targets: np.ndarray):
        """Return Z and H at this rank's targets from the current density (collective)."""
        sources, weights = self._owned_sources()
        return self.interaction.evaluate(self.comm, targets, sources, weights)

    def velocity_at_facets(self) -> np.ndarray:
        """Return the velocity of the current density at this rank's owned facets."""
        with self.timer.phase("interaction"):
            sums = self.interaction_sums(self.facet_targets)
        return self.model.velocity(self.facet_targets, sums)

    def _owned_sources(self):
        owned = self.num_owned
        weights = self.owned_density() * self.geometry.cell_sizes[:owned]
        return self.geometry.cell_points[:owned], weights

    def energy(self) -> float:
        """Return the interaction energy of the current density (NaN without one)."""
        if not self.model.has_energy:
            return float("nan")
        points, weights = self._owned_sources()
        return total(self.comm, self.model.energy(weights, self.interaction_sums(points)))

    def diagnostics(self) -> dict:
        """Return every diagnostic of the current density (see solver.diagnostics)."""
        with self.timer.phase("diagnostics"):
            return self._diagnostics()

    def _diagnostics(self) -> dict:
        owned = self.num_owned
        points, weights = self._owned_sources()
        density = self.owned_density()
        values = density_diagnostics(self.comm, density, self.geometry.cell_sizes[:owned], points)

        # One interaction evaluation at the cell points gives E, dE/dt and |v|.
        sums = self.interaction_sums(points)
        velocity = self.model.velocity(points, sums)
        speeds_squared = np.einsum("ij,ij->i", velocity, velocity)
        if self.model.has_energy:
            values["energy"] = total(self.comm, self.model.energy(weights, sums))
            values["dissipation_rate"] = total(
                self.comm, self.model.dissipation_rate(weights, sums, speeds_squared)
            )
        else:
            values["energy"] = values["dissipation_rate"] = float("nan")
        values["max_speed_on_support"] = max_speed_on_support(
            self.comm, density, np.sqrt(speeds_squared)
        )
        uniform = values["mass"] / total(self.comm, self.geometry.cell_sizes[:owned].sum())
        values["clusters"] = self.count_clusters(density, CLUSTER_THRESHOLD * uniform)
        return values

    def step(self, dt: float) -> int:
        """Advance the density by one semi-implicit step; return KSP iterations."""
        self.transport.set_velocity(self.velocity_at_facets())
        return self.transport.step(dt, self.timer)
