"""Figures of a results directory: diagnostics over time and the final density.

``plot_results`` reads only files of a finished run (diagnostics.csv, config.yaml
and checkpoint.npz, plus the mesh file if the run used one), so it runs on one
process and imports no DOLFINx.
"""

import csv
import ctypes.util
import logging
import os
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

DIAGNOSTIC_PANELS = (
    ("energy", "energy E"),
    ("max_density", "max density"),
    ("order_parameter", "|mean direction|"),
    ("l2_distance_to_uniform", "L2 distance to uniform"),
    ("clusters", "clusters"),
    ("max_speed_on_support", "max |v| on support"),
)


class PlotError(ValueError):
    """A results directory that cannot be plotted; the message names what is missing."""


def rendering_available() -> bool:
    """Return whether VTK can render off screen here (EGL, OSMesa or an X display).

    Without any of them the pip VTK wheels crash with a segmentation fault
    instead of raising, so the check must come first.
    """
    if os.environ.get("DISPLAY"):
        return True
    return any(ctypes.util.find_library(name) for name in ("EGL", "OSMesa"))


def _require_rendering():
    if not rendering_available():
        raise PlotError("rendering the sphere needs EGL or OSMesa (apt-get install libegl1 "
                        "libegl-mesa0 libgl1-mesa-dri) or an X display")


def read_diagnostics(directory: Path) -> dict:
    """Return the columns of diagnostics.csv as float arrays (empty cells become NaN)."""
    path = directory / "diagnostics.csv"
    if not path.is_file():
        raise PlotError(f"'{path}' not found; give the results directory of an attnflow run")
    try:
        with open(path, newline="") as file:
            rows = list(csv.DictReader(file))
        if not rows:
            raise PlotError(f"'{path}' has no rows; the run wrote no time step")
        if "time" not in rows[0] or not any(key in rows[0] for key, _ in DIAGNOSTIC_PANELS):
            raise ValueError("missing columns")
        return {
            key: np.array([float(row[key]) if row[key] not in ("", None) else np.nan
                           for row in rows])
            for key in rows[0]
        }
    except (UnicodeDecodeError, csv.Error, ValueError, TypeError) as error:
        if isinstance(error, PlotError):
            raise
        raise PlotError(f"'{path}' is not a diagnostics table written by attnflow; "
                        "give the results directory of a run") from None


def plot_diagnostics(columns: dict, path: Path):
    """Save a grid of diagnostics against time to path (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(key, label) for key, label in DIAGNOSTIC_PANELS
              if key in columns and np.any(np.isfinite(columns[key]))]
    figure, axes = plt.subplots(2, (len(panels) + 1) // 2, figsize=(12, 6), squeeze=False)
    for axis, (key, label) in zip(axes.flat, panels):
        axis.plot(columns["time"], columns[key])
        axis.set_xlabel("time")
        axis.set_ylabel(label)
        if key == "max_density" and np.nanmax(columns[key]) > 100 * np.nanmin(columns[key]):
            axis.set_yscale("log")
    for axis in list(axes.flat)[len(panels):]:
        axis.set_visible(False)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def read_final_density(directory: Path):
    """Return the time and a pyvista mesh with cell data 'density' of a run's checkpoint.

    The mesh is rebuilt from config.yaml with the same NumPy code the run used, in
    input cell order, so no VTK or XDMF reader is involved (the pip VTK's XDMF
    reader crashes on DOLFINx 0.9 files).
    """
    import pyvista

    from meshes.circle import circle_arrays
    from meshes.from_file import MeshFileError, sphere_arrays_from_file
    from meshes.icosahedral import icosahedral_sphere_arrays
    from solver.checkpoint import CheckpointError, mesh_identity, read_checkpoint
    from solver.config import ConfigError, load_settings

    try:
        mesh = load_settings(directory / "config.yaml").mesh
        if mesh.sphere == "S1":
            points, cells = circle_arrays(mesh.segments)
        elif mesh.file is not None:
            points, cells = sphere_arrays_from_file(mesh.file)
        else:
            points, cells = icosahedral_sphere_arrays(mesh.level)
        density = read_checkpoint(directory, mesh_identity(mesh), len(cells))
        with np.load(directory / "checkpoint.npz") as data:
            time = float(data["time"])
    except (ConfigError, CheckpointError, MeshFileError, KeyError, OSError) as error:
        raise PlotError(f"cannot read the final density of '{directory}': {error}") from None

    padded = np.zeros((len(points), 3))
    padded[:, : points.shape[1]] = points
    faces = np.column_stack([np.full(len(cells), cells.shape[1]), cells]).ravel()
    if cells.shape[1] == 2:
        data = pyvista.PolyData(padded, lines=faces)
    else:
        data = pyvista.PolyData(padded, faces)
    data.cell_data["density"] = density
    return time, data


def plot_density(time: float, data, path: Path):
    """Save a picture of the density at one time to path (PNG).

    On S^2 the sphere is rendered from the direction of the density's maximum
    and from the opposite side. On S^1 the density is drawn against the angle.
    """
    density = np.asarray(data.cell_data["density"])
    centers = np.asarray(data.cell_centers().points)
    if data.get_cell(0).n_points == 2:
        _plot_circle_density(time, centers, density, path)
        return

    import pyvista

    _require_rendering()
    from vtkmodules.vtkCommonCore import vtkLogger

    # VTK logs a warning for every render window it tries before EGL succeeds.
    vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_ERROR)
    data = data.copy()
    logarithmic = density.max() > 100 * max(density.min(), 1e-300)
    if logarithmic:
        floor = density.max() * 1e-8
        data.cell_data["log10 density"] = np.log10(np.maximum(density, floor))
    scalars = "log10 density" if logarithmic else "density"
    peak = centers[np.argmax(density)]
    peak = peak / np.linalg.norm(peak)
    plotter = pyvista.Plotter(off_screen=True, shape=(1, 2), window_size=(1200, 600))
    for column, direction in enumerate((peak, -peak)):
        plotter.subplot(0, column)
        # NOTE: no scalar bar. With DOLFINx imported in the same process, the pip VTK
        # (9.7) aborts inside the scalar bar's label formatting (std::regex).
        plotter.add_mesh(data, scalars=scalars, cmap="viridis", show_edges=False,
                         show_scalar_bar=False)
        plotter.camera_position = [tuple(4.0 * direction), (0, 0, 0), _up_vector(direction)]
        plotter.add_text("toward the maximum" if column == 0 else "opposite side", font_size=10)
    scale = "logarithmic" if logarithmic else "linear"
    plotter.subplot(0, 0)
    plotter.add_text(
        f"t = {time:g}   density {density.min():.3g} (dark) to {density.max():.3g} (yellow), "
        f"{scale} colour scale",
        position="lower_left", font_size=9,
    )
    plotter.screenshot(str(path))
    plotter.close()


def _up_vector(direction):
    axis = np.array([0.0, 0.0, 1.0])
    if abs(np.dot(axis, direction)) > 0.9:
        axis = np.array([0.0, 1.0, 0.0])
    return tuple(axis)


def _plot_circle_density(time, centers, density, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    angle = np.mod(np.arctan2(centers[:, 1], centers[:, 0]), 2 * np.pi)
    order = np.argsort(angle)
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot(angle[order], density[order])
    axis.set_xlabel("angle phi from e_1")
    axis.set_ylabel("density")
    axis.set_title(f"t = {time:g}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_results(directory) -> list[Path]:
    """Write diagnostics.png and density_final.png into a results directory; return their paths."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PlotError(f"results directory '{directory}' not found")
    columns = read_diagnostics(directory)
    time, data = read_final_density(directory)
    if data.get_cell(0).n_points != 2:
        _require_rendering()  # before any file is written
    written = [directory / "diagnostics.png", directory / "density_final.png"]
    plot_diagnostics(columns, written[0])
    plot_density(time, data, written[1])
    for path in written:
        logger.info("wrote %s", path)
    return written
