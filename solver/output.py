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
import gc
import os
import re
import socket
import sys
from pathlib import Path

import dolfinx
import dolfinx.io
import numpy as np
import yaml

from solver.checkpoint import write_checkpoint
from solver.config import Settings, dump_settings
from solver.diagnostics import DIAGNOSTIC_COLUMNS

RESULT_FILE_PATTERN = re.compile(
    r"config\.yaml|provenance\.yaml|diagnostics\.csv|checkpoint\.npz(\.tmp)?|attnflow\.lock"
    r"|density\.pvd|density\d{6}\.pvtu|density_p\d+_\d{6}\.vtu|density\.xdmf|density\.h5"
    r"|diagnostics\.png|density_final\.png"
)
"""Names of the files a run or ``attnflow plot`` writes; --overwrite deletes only these."""

LOCK_NAME = "attnflow.lock"
"""File in DIRECTORY.incomplete with the host and process id of the run writing there."""

INCOMPLETE_SUFFIX = ".incomplete"


class OutputError(RuntimeError):
    """The results directory cannot be used; the message gives the reason and the fix."""


def is_result_file(path: Path) -> bool:
    """Return whether path is a file that attnflow writes into a results directory."""
    return (path.is_file() and not path.is_symlink()
            and RESULT_FILE_PATTERN.fullmatch(path.name) is not None)


def is_results_directory(directory: Path) -> bool:
    """Return whether directory was written by attnflow, judged by its provenance.yaml."""
    try:
        record = yaml.safe_load((directory / "provenance.yaml").read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(record, dict) and {"mpi_ranks", "dolfinx", "command"} <= set(record)


def _lock_owner_alive(working: Path) -> bool:
    """Return whether the run that locked working is still running on this host."""
    try:
        host, pid = (working / LOCK_NAME).read_text().split()
        if host != socket.gethostname():
            return True  # another host: cannot tell, so assume it runs
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return False
    return True


def incomplete_directory(directory: Path) -> Path:
    """Return where a run writes before it finishes: DIRECTORY.incomplete beside it."""
    return directory.with_name(directory.name + INCOMPLETE_SUFFIX)


def _collective(comm, action) -> None:
    """Run action() on rank 0 and raise the same OutputError on every rank if it fails."""
    message = None
    if comm.rank == 0:
        try:
            message = action()
        except OSError as error:
            message = f"{error.strerror or error} for '{error.filename}'; choose another --output"
    message = comm.bcast(message, root=0)
    if message is not None:
        raise OutputError(message)


def check_results_directory(comm, directory: Path, overwrite: bool):
    """Check that a run may write its results to directory (collective, writes nothing)."""
    _collective(comm, lambda: _directory_problem(directory, overwrite))


def start_results_directory(comm, directory: Path, overwrite: bool) -> Path:
    """Create the empty DIRECTORY.incomplete that a run writes to (collective); return it."""
    working = incomplete_directory(directory)

    def create():
        problem = _directory_problem(directory, overwrite)
        if problem is not None:
            return problem
        if working.is_symlink() or (working.exists() and not working.is_dir()):
            return (f"'{working}' exists and is not a directory this run can use; "
                    "remove it or choose another --output")
        if working.exists():
            if _lock_owner_alive(working):
                return (f"another run is writing to '{working}'; wait for it or choose "
                        "another --output")
            # Left by a run that failed: remove its files, and nothing else.
            if not all(is_result_file(entry) for entry in working.iterdir()):
                return (f"'{working}' is left over from a failed run but holds other files; "
                        "move them away or choose another --output")
            _remove_results(working)
        working.mkdir(parents=True)
        (working / LOCK_NAME).write_text(f"{socket.gethostname()} {os.getpid()}\n")
        return None

    _collective(comm, create)
    return working


def finish_results_directory(comm, directory: Path):
    """Replace directory by the finished DIRECTORY.incomplete (collective)."""
    working = incomplete_directory(directory)

    def replace():
        if directory.exists():
            if not all(is_result_file(entry) for entry in directory.iterdir()):
                return (f"'{directory}' gained other files during the run; the results are "
                        f"in '{working}'")
            _remove_results(directory)
        (working / LOCK_NAME).unlink()
        working.rename(directory)
        return None

    _collective(comm, replace)


def abandon_results_directory(comm, directory: Path):
    """Unlock DIRECTORY.incomplete after a failed run, keeping its files (collective)."""
    if comm.rank == 0:
        lock = incomplete_directory(directory) / LOCK_NAME
        lock.unlink(missing_ok=True)
    comm.Barrier()


def _remove_results(directory: Path):
    """Delete a directory that contains only result files (checked by the caller)."""
    for entry in directory.iterdir():
        entry.unlink()
    directory.rmdir()


def _directory_problem(directory: Path, overwrite: bool) -> str | None:
    """Return why the run cannot write to directory, or None."""
    if str(directory) in ("", "."):
        return (f"invalid output directory '{directory}': give the path of a new directory "
                "with --output")
    resolved = directory.resolve()

    if resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents:
        return (f"invalid output directory '{directory}': it contains the working directory; "
                "give the path of a new directory with --output")
    if directory.is_symlink():
        return (f"output directory '{directory}' is a symbolic link; give the directory it "
                "points to, or another --output")
    if directory.exists() and not directory.is_dir():
        return f"output path '{directory}' exists and is not a directory; choose another --output"
    if not directory.exists():
        ancestor = resolved.parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
            return (f"cannot create output directory '{directory}': '{ancestor}' is not a "
                    "writable directory; choose another --output")
        return None
    if not any(directory.iterdir()):
        return None

    if not overwrite:
        return (f"output directory '{directory}' is not empty; "
                "choose another --output or pass --overwrite")
    if not is_results_directory(directory):
        return (f"output directory '{directory}' has no provenance.yaml written by attnflow, "
                "so --overwrite leaves it alone; choose another --output")
    foreign = sorted(entry.name for entry in directory.iterdir() if not is_result_file(entry))
    if foreign:
        listed = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        return (f"output directory '{directory}' holds files attnflow did not write ({listed}), "
                "so --overwrite leaves it alone; choose another --output")
    return None


class ResultsWriter:
    """Writes the files of one run into an empty results directory."""

    def __init__(self, comm, directory: Path, settings: Settings, msh, mesh_id: str):
        self.comm = comm
        self.mesh_id = mesh_id
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
        write_checkpoint(self.comm, self.directory / "checkpoint.npz", self.mesh_id,
                         values, original_cells, time, step)

    def close(self):
        """Close every open file (collective); calling it again does nothing."""
        if self.vtk is not None:
            self.vtk.close()
            # DOLFINx 0.5 writes the .pvd again when the VTKFile is destroyed, which
            # could be after the directory is renamed: destroy it now.
            self.vtk = None
        if self.xdmf is not None:
            self.xdmf.close()
            self.xdmf = None
            self.comm.Barrier()
            if self.comm.rank == 0:
                declare_double_precision(self.directory / "density.xdmf")
        if self._csv_file is not None:
            self._csv_file.close()
            self._csv_file = None
        gc.collect()
        self.comm.Barrier()


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


def _git_commit() -> str | None:
    """Return the commit of the attnflow checkout this code runs from, if any."""
    import subprocess

    try:
        completed = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() or None if completed.returncode == 0 else None


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
        "git_commit": _git_commit(),
    }
    return yaml.safe_dump(record, sort_keys=False)
