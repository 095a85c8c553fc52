"""Density checkpoints: the density of every cell, stored by input cell index.

A checkpoint is a NumPy .npz file with the arrays

- density: shape (num_cells,), the density of cell i of the generated mesh;
- time, step: scalars;
- sphere, level, segments, num_cells: the mesh the density belongs to.

Because cells are stored by their input index, a checkpoint written on N
ranks is read on any number of ranks. ``write_checkpoint`` is collective.
"""

import os
from pathlib import Path

import numpy as np

from solver.config import MeshSettings

CHECKPOINT_NAME = "checkpoint.npz"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the mesh."""


def write_checkpoint(comm, path: Path, mesh: MeshSettings, values, original_cells, time, step):
    """Gather the owned density values on rank 0 and replace the file at path atomically.

    Args:
        values: Density at the owned cells of this rank, shape (num_owned,).
        original_cells: Input index of the same cells, shape (num_owned,).
    """
    gathered_values = comm.gather(np.asarray(values), root=0)
    gathered_cells = comm.gather(np.asarray(original_cells), root=0)
    if comm.rank != 0:
        return
    cells = np.concatenate(gathered_cells)
    density = np.empty(len(cells))
    density[cells] = np.concatenate(gathered_values)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file:
        np.savez(
            file, density=density, time=float(time), step=int(step), sphere=mesh.sphere,
            level=mesh.level, segments=mesh.segments, num_cells=len(density),
            format_version=FORMAT_VERSION,
        )
    os.replace(temporary, path)


def read_checkpoint(path, mesh: MeshSettings, expected: int) -> np.ndarray:
    """Read a checkpoint (or the one in a results directory) for a mesh of `expected` cells.

    Returns the density by input cell index, shape (num_cells,). Raises
    CheckpointError with the reason and the fix if the file is unreadable,
    incomplete, for another mesh, or contains negative or non-finite values.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: '{path}' (check 'initial.file')")
    try:
        with np.load(path, allow_pickle=False) as data:
            contents = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError) as error:
        raise CheckpointError(
            f"cannot read checkpoint '{path}': {error}; point 'initial.file' to a "
            f"{CHECKPOINT_NAME} written by attnflow"
        ) from None

    required = ("density", "sphere", "level", "segments", "num_cells")
    missing = [key for key in required if key not in contents]
    if missing:
        raise CheckpointError(
            f"checkpoint '{path}' lacks {', '.join(missing)}; point 'initial.file' to a "
            f"{CHECKPOINT_NAME} written by attnflow"
        )
    sphere = str(contents["sphere"])
    num_cells = int(contents["num_cells"])
    if sphere != mesh.sphere or num_cells != expected:
        raise CheckpointError(
            f"checkpoint '{path}' is for {sphere} with {num_cells} cells, but this run's mesh "
            f"is {mesh.sphere} with {expected} cells; use the mesh settings of the run "
            "that wrote it"
        )
    density = np.asarray(contents["density"], dtype=np.float64)
    if density.shape != (expected,):
        raise CheckpointError(
            f"checkpoint '{path}' has {density.size} density values for {expected} cells; "
            "the file is damaged"
        )
    if not np.all(np.isfinite(density)) or density.min() < 0.0:
        raise CheckpointError(
            f"checkpoint '{path}' has negative or non-finite density values; "
            "use a checkpoint of a valid run"
        )
    return density
