"""Results of a run: resolved config, density time series, diagnostics, checkpoint.

A results directory contains

- config.yaml: the settings as resolved, every default filled in;
- provenance.yaml: versions, number of ranks, command line, start time;
- density.pvd (+ .pvtu/.vtu per step) and/or density.xdmf (+ .h5): the DG0
  density as cell data named "density", one time value per output step;
- diagnostics.csv: one row per time step;
- checkpoint.npz: the last output density by input cell index, readable as an
  initial density (see solver.checkpoint).

Creating a ResultsWriter and writing fields are collective; rank 0 alone
writes the YAML, CSV and checkpoint files.
"""

import csv
import datetime
import re
import shutil
import sys
from pathlib import Path

import dolfinx
import dolfinx.io
import numpy as np
import yaml

from solver.checkpoint import write_checkpoint
from solver.config import Settings, dump_settings
from solver.diagnostics import DIAGNOSTIC_COLUMNS

RESULT_MARKERS = ("config.yaml", "diagnostics.csv")


class OutputError(RuntimeError):
    """The results directory cannot be used; the message gives the reason and the fix."""


def prepare_results_directory(comm, directory: Path, overwrite: bool):
    """Create an empty results directory (collective; rank 0 touches the disk).

    An existing non-empty directory is replaced only with overwrite=True, and
    only if it is an earlier results directory.
    """
    message = None
    if comm.rank == 0:
        message = _check_directory(directory, overwrite)
        if message is None:
            if directory.exists():
                shutil.rmtree(directory)
            directory.mkdir(parents=True)
    message = comm.bcast(message, root=0)
    if message is not None:
        raise OutputError(message)


def _check_directory(directory: Path, overwrite: bool) -> str | None:
    if directory.exists() and not directory.is_dir():
        return f"output path '{directory}' exists and is not a directory; choose another --output"
    if not directory.exists() or not any(directory.iterdir()):
        return None
    if not overwrite:
        return (f"output directory '{directory}' is not empty; "
                "choose another --output or pass --overwrite")
    if not all((directory / name).exists() for name in RESULT_MARKERS):
        return (f"output directory '{directory}' is not an attnflow results directory, "
                "so --overwrite does not delete it; choose another --output")
    return None


class ResultsWriter:
    """Writes the files of one run into an empty results directory."""

    def __init__(self, comm, directory: Path, settings: Settings, msh):
        self.comm = comm
        self.directory = directory
        self.settings = settings
        fmt = settings.output.format
        if comm.rank == 0:
            (directory / "config.yaml").write_text(dump_settings(settings))
            (directory / "provenance.yaml").write_text(_provenance(comm))

        self.vtk = None
        self.xdmf = None
        if fmt in ("vtk", "both"):
            # No write_mesh here: in VTK it would add a mesh-only time step.
            self.vtk = dolfinx.io.VTKFile(comm, str(directory / "density.pvd"), "w")
        if fmt in ("xdmf", "both"):
            self.xdmf = dolfinx.io.XDMFFile(comm, str(directory / "density.xdmf"), "w")
            self.xdmf.write_mesh(msh)

        self._csv_file = None
        if comm.rank == 0:
            self._csv_file = open(directory / "diagnostics.csv", "w", newline="")
            self._csv = csv.DictWriter(self._csv_file, fieldnames=DIAGNOSTIC_COLUMNS)
            self._csv.writeheader()

    def write_density(self, density, time: float):
        """Append the density at the given time to the VTK and XDMF series (collective)."""
        if self.vtk is not None:
            self.vtk.write_function(density, time)
        if self.xdmf is not None:
            self.xdmf.write_function(density, time)

    def write_diagnostics(self, row: dict):
        """Append one row to diagnostics.csv (rank 0 writes, others return)."""
        if self._csv_file is None:
            return
        self._csv.writerow({key: _csv_value(row[key]) for key in DIAGNOSTIC_COLUMNS})
        self._csv_file.flush()

    def write_checkpoint(self, values, original_cells, time: float, step: int):
        """Replace checkpoint.npz with the given owned density values (collective)."""
        write_checkpoint(self.comm, self.directory / "checkpoint.npz", self.settings.mesh,
                         values, original_cells, time, step)

    def close(self):
        """Close every open file (collective)."""
        if self.vtk is not None:
            self.vtk.close()
        if self.xdmf is not None:
            self.xdmf.close()
            self.comm.Barrier()
            if self.comm.rank == 0:
                declare_double_precision(self.directory / "density.xdmf")
        if self._csv_file is not None:
            self._csv_file.close()


def declare_double_precision(path: Path):
    """Mark the float HDF5 data items of a DOLFINx XDMF file as 8-byte floats.

    DOLFINx (0.5 to 0.9) writes float64 datasets without a Precision
    attribute, and XDMF readers then assume 4 bytes: ParaView 5.11 shows the
    density rounded to float32. Integer items already carry a NumberType.
    """
    text = path.read_text()
    patched = re.sub(r'<DataItem (?![^>]*NumberType)([^>]*Format="HDF")',
                     r'<DataItem NumberType="Float" Precision="8" \1', text)
    path.write_text(patched)


def _csv_value(value):
    if isinstance(value, float) and np.isnan(value):
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def _provenance(comm) -> str:
    import petsc4py

    record = {
        "command": " ".join(sys.argv),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mpi_ranks": comm.size,
        "python": sys.version.split()[0],
        "dolfinx": dolfinx.__version__,
        "petsc4py": petsc4py.__version__,
        "numpy": np.__version__,
    }
    return yaml.safe_dump(record, sort_keys=False)
