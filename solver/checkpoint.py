"""Density checkpoints: the density of every cell, stored by input cell index.

A checkpoint is a NumPy .npz file with the arrays

- density: shape (num_cells,), the density of input cell i of the mesh;
- time, step: scalars;
- mesh_id, num_cells: the mesh the density belongs to (see ``mesh_identity``).

Because cells are stored by their input index, a checkpoint written on N
ranks is read on any number of ranks. ``write_checkpoint`` is collective.
"""

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np

from solver.config import MeshSettings

CHECKPOINT_NAME = "checkpoint.npz"
FORMAT_VERSION = 2


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the mesh."""


def mesh_identity(mesh: MeshSettings) -> str:
    """Return a string that identifies the mesh of the settings, cell numbering included.

    A mesh read from a file is identified by the SHA-256 of the file's bytes.
    """
    if mesh.sphere == "S1":
        return f"S1 circle of {mesh.segments} segments"
    if mesh.file is None:
        return f"S2 icosahedral sphere of level {mesh.level}"
    digest = hashlib.sha256(Path(mesh.file).read_bytes()).hexdigest()
    return f"S2 mesh file {Path(mesh.file).name} with SHA-256 {digest[:16]}"


def write_checkpoint(comm, path: Path, mesh_id: str, values, original_cells, time, step):
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
            file, density=density, time=float(time), step=int(step), mesh_id=mesh_id,
            num_cells=len(density), format_version=FORMAT_VERSION,
        )
    os.replace(temporary, path)


def read_checkpoint(path, mesh_id: str, expected: int) -> np.ndarray:
    """Read a checkpoint (or the one in a results directory) for a mesh.

    Args:
        path: A checkpoint file or a results directory.
        mesh_id: ``mesh_identity`` of this run's mesh.
        expected: Number of cells of this run's mesh.

    Returns the density by input cell index, shape (num_cells,). Raises
    CheckpointError with the reason and the fix if the file is unreadable,
    incomplete, for another mesh, or contains negative or non-finite values.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: '{path}' (check 'initial.file')")
    fix = f"point 'initial.file' to a {CHECKPOINT_NAME} written by attnflow"
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            contents = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, TypeError, KeyError, zipfile.BadZipFile,
            AttributeError, MemoryError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise CheckpointError(f"cannot read checkpoint '{path}' ({reason}); {fix}") from None

    required = ("density", "mesh_id", "num_cells")
    missing = [key for key in required if key not in contents]
    if missing:
        raise CheckpointError(f"checkpoint '{path}' lacks {', '.join(missing)}; {fix}")
    try:
        if not np.issubdtype(contents["density"].dtype, np.floating):
            raise TypeError("density is not a floating-point array")
        written_mesh = str(contents["mesh_id"])
        num_cells = int(contents["num_cells"])
        density = np.asarray(contents["density"], dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckpointError(f"checkpoint '{path}' has entries of the wrong type; {fix}") from None
    if written_mesh != mesh_id or num_cells != expected:
        raise CheckpointError(
            f"checkpoint '{path}' is for the {written_mesh} ({num_cells} cells), but this run's "
            f"mesh is the {mesh_id} ({expected} cells); use the mesh settings of the run "
            "that wrote it"
        )
    if density.shape != (expected,):
        raise CheckpointError(
            f"checkpoint '{path}' has density values of shape {density.shape}, expected "
            f"({expected},); the file is damaged"
        )
    if not np.all(np.isfinite(density)) or density.min() < 0.0:
        raise CheckpointError(
            f"checkpoint '{path}' has negative or non-finite density values; "
            "use a checkpoint of a valid run"
        )
    return density
