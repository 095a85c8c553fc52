"""Triangulated spheres read from a file.

Any surface format that pyvista (VTK) reads works: .vtk, .vtu, .vtp, .ply,
.stl, .obj, among others. The file must describe a closed triangulated
surface whose vertices lie on the unit sphere; duplicate points are merged
and cells are reoriented outward. ``read_sphere_mesh`` is collective: rank 0
reads and checks the file, and every rank raises the same MeshFileError if
the file is unusable.
"""

import warnings

import numpy as np

from meshes.icosahedral import orient_outward

RADIUS_TOLERANCE = 1e-6
"""Largest accepted | |x| - 1 | of a vertex."""


class MeshFileError(ValueError):
    """A mesh file that cannot be used; the message names the problem and the fix."""


def sphere_arrays_from_file(path) -> tuple[np.ndarray, np.ndarray]:
    """Read and check a sphere mesh file; return vertices (n, 3) and outward cells (m, 3)."""
    import pyvista
    from vtkmodules.vtkCommonCore import vtkObject

    # VTK's readers print their own errors to stderr for a bad file; this function
    # raises one MeshFileError instead.
    from vtkmodules.vtkCommonCore import vtkLogger

    display = vtkObject.GetGlobalWarningDisplay()
    vtkObject.GlobalWarningDisplayOff()
    vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_OFF)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = pyvista.read(str(path))
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, AttributeError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise MeshFileError(f"cannot read mesh file '{path}' ({reason}); give a surface mesh "
                            "that pyvista reads (.vtk, .vtu, .vtp, .ply, .stl, .obj)") from None
    finally:
        vtkObject.SetGlobalWarningDisplay(display)
        vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_WARNING)
    if isinstance(data, pyvista.MultiBlock):
        data = data.combine()
    if data is None or data.n_cells == 0 or data.n_points == 0:
        raise MeshFileError(f"mesh file '{path}' contains no cells; give a triangulated sphere")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyvista's notices about future defaults
        surface = data.extract_surface() if not isinstance(data, pyvista.PolyData) else data
    if not surface.is_all_triangles:
        raise MeshFileError(f"mesh file '{path}' has cells that are not triangles; "
                            "triangulate the surface first")
    cells = np.asarray(surface.faces).reshape(-1, 4)[:, 1:].astype(np.int64)
    if cells.min() < 0 or cells.max() >= surface.n_points:
        raise MeshFileError(f"mesh file '{path}' has triangles with vertex indices outside "
                            f"0 to {surface.n_points - 1}; the file is damaged")
    surface = surface.clean()
    points = np.asarray(surface.points, dtype=np.float64)
    cells = np.asarray(surface.faces).reshape(-1, 4)[:, 1:].astype(np.int64)
    check_sphere_arrays(points, cells, str(path))
    return points, orient_outward(points, cells)


def check_sphere_arrays(points: np.ndarray, cells: np.ndarray, name: str):
    """Raise MeshFileError unless the triangles form a closed mesh of the unit sphere."""
    if len(cells) < 4 or not np.all(np.isfinite(points)):
        raise MeshFileError(f"mesh '{name}' has fewer than 4 triangles or non-finite points; "
                            "give a triangulated sphere")
    radii = np.linalg.norm(points, axis=1)
    worst = float(np.abs(radii - 1.0).max())
    if worst > RADIUS_TOLERANCE:
        raise MeshFileError(
            f"mesh '{name}' has vertices off the unit sphere (radii {radii.min():.6g} to "
            f"{radii.max():.6g}); scale and project the vertices to radius 1"
        )

    a, b, c = (points[cells[:, i]] for i in range(3))
    areas = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    if areas.min() <= 1e-14 * areas.max():
        raise MeshFileError(f"mesh '{name}' has degenerate triangles of zero area; "
                            "remove them from the mesh")

    edges = np.sort(np.concatenate([cells[:, [0, 1]], cells[:, [1, 2]], cells[:, [2, 0]]]),
                    axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    if np.any(counts != 2):
        raise MeshFileError(
            f"mesh '{name}' is not a closed surface: {np.count_nonzero(counts != 2)} edges "
            "do not belong to exactly two triangles; give a watertight mesh of the sphere"
        )
    # The triangles' solid angles add up to 4 pi exactly when they cover the sphere
    # once; folded or overlapping triangles add more.
    covered = np.abs(_solid_angles(a, b, c)).sum()
    if abs(covered - 4.0 * np.pi) > 1e-6 * 4.0 * np.pi:
        raise MeshFileError(
            f"mesh '{name}' covers the sphere {covered / (4 * np.pi):.4g} times instead of "
            "once (folded or overlapping triangles); give a mesh that covers it once"
        )


def _solid_angles(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Return the signed solid angle of each triangle (a, b, c) seen from the origin.

    The formula of Van Oosterom and Strackee (1983) for unit vectors a, b, c.
    """
    numerator = np.einsum("ij,ij->i", a, np.cross(b, c))
    denominator = (1.0 + np.einsum("ij,ij->i", a, b) + np.einsum("ij,ij->i", b, c)
                   + np.einsum("ij,ij->i", c, a))
    return 2.0 * np.arctan2(numerator, denominator)


def read_sphere_mesh(comm, path):
    """Read a sphere mesh file on rank 0 and distribute it over comm (collective)."""
    from meshes.dolfinx_compat import create_simplex_mesh  # DOLFINx only when a mesh is built

    message = None
    points, cells = np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    if comm.rank == 0:
        try:
            points, cells = sphere_arrays_from_file(path)
        except MeshFileError as error:
            message = str(error)
    message = comm.bcast(message, root=0)
    if message is not None:
        raise MeshFileError(message)
    return create_simplex_mesh(comm, cells, points, tdim=2, gdim=3)
