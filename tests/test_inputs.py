"""Meshes read from files and densities read from checkpoints."""

import numpy as np
import pytest

from meshes.from_file import MeshFileError, read_sphere_mesh, sphere_arrays_from_file
from meshes.icosahedral import icosahedral_sphere_arrays
from solver.checkpoint import CheckpointError, mesh_identity, read_checkpoint
from solver.cli import INPUT_ERROR, main
from solver.simulation import Simulation
from support import gather_by_input_index, make_settings


def write_surface(path, points, cells):
    import pyvista

    faces = np.column_stack([np.full(len(cells), cells.shape[1]), cells]).ravel()
    pyvista.PolyData(points, faces).save(str(path))


@pytest.fixture
def sphere_file(comm, shared_tmp_path):
    """An icosahedral sphere of level 2 with every other cell's orientation flipped."""
    path = shared_tmp_path / "sphere.vtk"
    if comm.rank == 0:
        points, cells = icosahedral_sphere_arrays(2)
        cells = cells.copy()
        cells[::2] = cells[::2, ::-1]
        write_surface(path, points, cells)
    comm.Barrier()
    return path


def test_file_mesh_reoriented_outward(sphere_file):
    points, cells = sphere_arrays_from_file(sphere_file)
    a, b, c = (points[cells[:, i]] for i in range(3))
    outward = np.einsum("ij,ij->i", np.cross(b - a, c - a), a + b + c)
    assert len(cells) == 320
    assert np.all(outward > 0)


def test_file_mesh_matches_generated(comm, sphere_file):
    energies = {}
    for name, mesh in (("file", {"file": str(sphere_file)}), ("generated", {"level": 2})):
        settings = make_settings(
            mesh=mesh, model={"beta": 2.0, "D": [1.0, 2.0, 3.0]},
            initial={"perturbation": {"kind": "mode", "l": 2, "m": 1, "amplitude": 0.5}},
        )
        simulation = Simulation(settings, comm)
        simulation.set_initial_density()
        for _ in range(3):
            simulation.step(0.2)
        energies[name] = simulation.energy()
    assert abs(energies["file"] - energies["generated"]) < 1e-13 * energies["generated"]


def bad_meshes():
    points, cells = icosahedral_sphere_arrays(1)
    folded = points.copy()
    folded[0] = -folded[0] + np.array([1e-3, 0.0, 0.0])
    folded[0] /= np.linalg.norm(folded[0])
    return {
        "folded": (folded, cells, "covers the sphere"),
        "off the unit sphere": (2.0 * points, cells, "off the unit sphere"),
        "open surface": (points, cells[1:], "not a closed surface"),
        "quadrilaterals": (points, np.column_stack([cells, cells[:, 0]]), "not triangles"),
    }


@pytest.mark.parametrize("case", sorted(bad_meshes()))
def test_bad_mesh_file_rejected(comm, shared_tmp_path, case):
    points, cells, message = bad_meshes()[case]
    path = shared_tmp_path / "bad.vtk"
    if comm.rank == 0:
        write_surface(path, points, cells)
    comm.Barrier()
    with pytest.raises(MeshFileError, match=message):
        read_sphere_mesh(comm, path)


def test_mesh_file_bad_vertex_index_rejected(comm, shared_tmp_path):
    points, cells = icosahedral_sphere_arrays(1)
    path = shared_tmp_path / "bad_index.obj"
    if comm.rank == 0:
        lines = [f"v {x} {y} {z}" for x, y, z in points]
        lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in cells[:-1]]
        lines.append("f 1 2 99999")
        path.write_text("\n".join(lines) + "\n")
    comm.Barrier()
    with pytest.raises(MeshFileError):
        read_sphere_mesh(comm, path)


def test_unreadable_mesh_file_rejected(comm, shared_tmp_path):
    path = shared_tmp_path / "garbage.vtk"
    if comm.rank == 0:
        path.write_text("this is not a mesh\n")
    comm.Barrier()
    with pytest.raises(MeshFileError):
        read_sphere_mesh(comm, path)


def test_bad_mesh_file_exits_2_without_results(comm, shared_tmp_path):
    points, cells, _ = bad_meshes()["open surface"]
    mesh_path = shared_tmp_path / "open.vtk"
    config = shared_tmp_path / "open.yaml"
    if comm.rank == 0:
        write_surface(mesh_path, points, cells)
        config.write_text(f"mesh: {{file: {mesh_path}}}\ntime: {{dt: 0.1, t_end: 0.2}}\n")
    comm.Barrier()
    results = shared_tmp_path / "never"
    assert main(["run", str(config), "--output", str(results)]) == INPUT_ERROR
    assert not results.exists()


def test_restart_continues_run(comm, shared_tmp_path):
    """Two runs of 3 steps, the second from the first's checkpoint, equal one run of 6."""
    base = {"mesh": "{level: 2}", "model": "{beta: 3.0, D: [1, 2, 3]}"}
    first = shared_tmp_path / "first.yaml"
    second = shared_tmp_path / "second.yaml"
    whole = shared_tmp_path / "whole.yaml"
    common = f"mesh: {base['mesh']}\nmodel: {base['model']}\n"
    perturbed = "initial: {perturbation: {kind: random, amplitude: 0.4, seed: 2}}\n"
    if comm.rank == 0:
        first.write_text(common + perturbed + "time: {dt: 0.25, t_end: 0.75}\n")
        whole.write_text(common + perturbed + "time: {dt: 0.25, t_end: 1.5}\n")
        second.write_text(common + f"initial: {{type: file, file: {shared_tmp_path / 'a'}}}\n"
                          "time: {dt: 0.25, t_end: 0.75}\n")
    comm.Barrier()
    assert main(["run", str(first), "--output", str(shared_tmp_path / "a")]) == 0
    assert main(["run", str(second), "--output", str(shared_tmp_path / "b")]) == 0
    assert main(["run", str(whole), "--output", str(shared_tmp_path / "c")]) == 0
    settings = make_settings(mesh={"level": 2})
    mesh_id = mesh_identity(settings.mesh)
    restarted = read_checkpoint(shared_tmp_path / "b", mesh_id, 320)
    direct = read_checkpoint(shared_tmp_path / "c", mesh_id, 320)
    assert np.abs(restarted - direct).max() < 1e-12 * direct.max()


def test_checkpoint_negative_values_rejected(comm, shared_tmp_path):
    path = shared_tmp_path / "negative.npz"
    if comm.rank == 0:
        np.savez(path, density=-np.ones(80), num_cells=80,
                 mesh_id="S2 icosahedral sphere of level 1")
    comm.Barrier()
    with pytest.raises(CheckpointError, match="negative"):
        read_checkpoint(path, "S2 icosahedral sphere of level 1", 80)


def test_checkpoint_garbage_rejected(comm, shared_tmp_path):
    path = shared_tmp_path / "garbage.npz"
    if comm.rank == 0:
        path.write_bytes(b"not a zip file")
    comm.Barrier()
    with pytest.raises(CheckpointError, match="cannot read"):
        read_checkpoint(path, "S2 icosahedral sphere of level 1", 80)


def test_checkpoint_density_by_position(comm, shared_tmp_path):
    """A density set from a checkpoint lands on the cells it was written for."""
    settings = make_settings(mesh={"level": 2})
    settings.initial.type = "file"
    simulation = Simulation(settings, comm)
    values = np.arange(1, 321, dtype=float)
    simulation.set_initial_density(values)
    gathered = gather_by_input_index(comm, simulation)
    assert np.allclose(gathered / gathered[0], values / values[0], rtol=1e-14, atol=0)


def flipped_edge_sphere():
    """Return an icosahedral sphere of level 1 with one edge flipped: not Delaunay."""
    points, cells = icosahedral_sphere_arrays(1)
    first = cells[0]
    a, b, c = first
    for index, other in enumerate(cells[1:], start=1):
        if a in other and b in other:
            d = next(vertex for vertex in other if vertex not in (a, b))
            cells = cells.copy()
            cells[0] = [a, d, c]
            cells[index] = [d, b, c]
            return points, cells
    raise AssertionError("no neighbour across edge (a, b)")


def test_diffusion_rejects_non_delaunay_mesh(comm, shared_tmp_path, capsys):
    points, cells = flipped_edge_sphere()
    mesh_path = shared_tmp_path / "flipped.vtk"
    config = shared_tmp_path / "flipped.yaml"
    if comm.rank == 0:
        write_surface(mesh_path, points, cells)
        config.write_text(f"mesh: {{file: {mesh_path}}}\nmodel: {{diffusion: 0.1}}\n"
                          "time: {dt: 0.1, t_end: 0.2}\n")
    comm.Barrier()
    results = shared_tmp_path / "never"
    assert main(["run", str(config), "--output", str(results)]) == INPUT_ERROR
    assert not results.exists()
    if comm.rank == 0:
        assert "Delaunay" in capsys.readouterr().err


def test_non_delaunay_mesh_runs_without_diffusion(comm, shared_tmp_path):
    points, cells = flipped_edge_sphere()
    mesh_path = shared_tmp_path / "flipped.vtk"
    if comm.rank == 0:
        write_surface(mesh_path, points, cells)
    comm.Barrier()
    simulation = Simulation(make_settings(mesh={"file": str(mesh_path)}), comm)
    simulation.set_initial_density()
    simulation.step(0.1)
    assert simulation.diagnostics()["min_density"] >= 0.0
