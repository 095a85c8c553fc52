"""The attnflow command: a short run end to end, and rejected input."""

import csv
import os
import socket

import numpy as np
import pytest
import yaml

from solver.checkpoint import mesh_identity, read_checkpoint
from solver.cli import INPUT_ERROR, main
from solver.config import load_settings

SHORT_RUN = """
mesh: {level: 2}
model: {beta: 2.0}
initial:
  type: uniform
  perturbation: {kind: random, amplitude: 0.2, seed: 3}
time: {dt: 0.5, t_end: 2.0}
output: {every: 2}
"""


def write(path, text):
    path.write_text(text)
    return path


def test_run_writes_results(comm, shared_tmp_path):
    config = shared_tmp_path / "short.yaml"
    if comm.rank == 0:
        write(config, SHORT_RUN)
    comm.Barrier()
    results = shared_tmp_path / "results"
    assert main(["run", str(config), "--output", str(results)]) == 0

    resolved = yaml.safe_load((results / "config.yaml").read_text())
    assert resolved["output"]["directory"] == str(results)
    assert resolved["model"]["normalization"] == "softmax"
    assert load_settings(results / "config.yaml").model.beta == 2.0

    with open(results / "diagnostics.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["step"]) for row in rows] == [0, 1, 2, 3, 4]
    for column in ("step", "time", "dt", "mass", "energy", "min_density", "max_density"):
        assert column in rows[0]
    assert float(rows[-1]["time"]) == 2.0

    assert (results / "density.pvd").is_file()
    assert (results / "density.xdmf").is_file()
    mesh_id = mesh_identity(load_settings(results / "config.yaml").mesh)
    density = read_checkpoint(results, mesh_id, 320)
    assert len(density) == 320
    assert density.min() >= 0.0


def test_existing_results_need_overwrite(comm, shared_tmp_path):
    config = shared_tmp_path / "short.yaml"
    if comm.rank == 0:
        write(config, SHORT_RUN.replace("t_end: 2.0", "t_end: 0.5"))
    comm.Barrier()
    results = shared_tmp_path / "results"
    assert main(["run", str(config), "--output", str(results)]) == 0
    assert main(["run", str(config), "--output", str(results)]) == INPUT_ERROR
    assert main(["run", str(config), "--output", str(results), "--overwrite"]) == 0


def test_overwrite_spares_foreign_directory(comm, shared_tmp_path):
    config = shared_tmp_path / "short.yaml"
    foreign = shared_tmp_path / "mine"
    if comm.rank == 0:
        write(config, SHORT_RUN)
        foreign.mkdir()
        write(foreign / "notes.txt", "keep me")
    comm.Barrier()
    assert main(["run", str(config), "--output", str(foreign), "--overwrite"]) == INPUT_ERROR
    assert (foreign / "notes.txt").read_text() == "keep me"


INVALID_CONFIGS = {
    "unknown key": ("model: {bta: 1.0}", "did you mean 'beta'"),
    "negative beta": ("model: {beta: -1.0}", "model.beta"),
    "wrong sphere": ("mesh: {sphere: S3}", "S^1 and the sphere S^2"),
    "bad matrix size": ("model: {D: [1, 2]}", "model.D"),
    "asymmetric D": ("model: {D: [[1, 2, 0], [0, 1, 0], [0, 0, 1]]}", "symmetric"),
    "bad format": ("output: {format: vtu}", "did you mean 'vtk'"),
    "yaml syntax": ("model: {beta: [1.0", "invalid YAML"),
    "negative dt": ("time: {dt: -0.1}", "time.dt"),
    "missing checkpoint": ("initial: {type: file, file: nowhere.npz}", "not found"),
}


@pytest.mark.parametrize("case", sorted(INVALID_CONFIGS))
def test_invalid_config_rejected(comm, shared_tmp_path, capsys, case):
    text, expected_message = INVALID_CONFIGS[case]
    config = shared_tmp_path / "bad.yaml"
    if comm.rank == 0:
        write(config, text)
    comm.Barrier()
    results = shared_tmp_path / "never"
    assert main(["run", str(config), "--output", str(results)]) == INPUT_ERROR
    assert not results.exists()
    if comm.rank == 0:
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1
        assert expected_message in error[0]


def test_mismatched_checkpoint_rejected(comm, shared_tmp_path, capsys):
    config = shared_tmp_path / "short.yaml"
    checkpoint = shared_tmp_path / "other.npz"
    if comm.rank == 0:
        np.savez(checkpoint, density=np.ones(80), num_cells=80,
                 mesh_id="S2 icosahedral sphere of level 1")
        text = SHORT_RUN.replace("type: uniform", f"type: file\n  file: {checkpoint}")
        write(config, text)
    comm.Barrier()
    results = shared_tmp_path / "never"
    assert main(["run", str(config), "--output", str(results)]) == INPUT_ERROR
    assert not results.exists()
    if comm.rank == 0:
        assert "80 cells" in capsys.readouterr().err


def test_missing_config_file(comm, shared_tmp_path):
    assert main(["run", str(shared_tmp_path / "absent.yaml")]) == INPUT_ERROR


def test_steady_state_stops_run(comm, shared_tmp_path):
    config = shared_tmp_path / "steady.yaml"
    if comm.rank == 0:
        write(config, """
mesh: {sphere: S1, segments: 64}
model: {beta: 1.0, direction: descent}
initial: {perturbation: {kind: mode, l: 2, amplitude: 0.2}}
time: {dt: 0.5, t_end: 1000.0, steady_tolerance: 1.0e-6}
""")
    comm.Barrier()
    results = shared_tmp_path / "steady"
    assert main(["run", str(config), "--output", str(results)]) == 0
    with open(results / "diagnostics.csv") as file:
        rows = list(csv.DictReader(file))
    # Descent with D = I flows toward uniform. High modes decay at rates that fall like
    # (beta/2)^l / l!, so the run stops on the tolerance long before t_end.
    assert float(rows[-1]["time"]) < 1000.0
    initial_distance = float(rows[0]["max_distance_to_uniform"])
    assert float(rows[-1]["max_distance_to_uniform"]) < 0.1 * initial_distance


def test_energy_column_empty_without_gradient_flow(comm, shared_tmp_path):
    config = shared_tmp_path / "general.yaml"
    if comm.rank == 0:
        write(config, """
mesh: {level: 1}
model: {beta: 1.0, A: [1.0, 2.0, 3.0], V: identity}
initial: {perturbation: {kind: random, amplitude: 0.2}}
time: {dt: 0.5, t_end: 1.0}
""")
    comm.Barrier()
    results = shared_tmp_path / "general"
    assert main(["run", str(config), "--output", str(results)]) == 0
    with open(results / "diagnostics.csv") as file:
        rows = list(csv.DictReader(file))
    assert all(row["energy"] == "" for row in rows)
    assert all(row["dissipation_rate"] == "" for row in rows)
    assert all(row["mass"] != "" for row in rows)


def test_output_working_directory_rejected(comm, shared_tmp_path, monkeypatch):
    config = shared_tmp_path / "short.yaml"
    if comm.rank == 0:
        write(config, SHORT_RUN)
        write(shared_tmp_path / "diagnostics.csv", "mine")
    comm.Barrier()
    monkeypatch.chdir(shared_tmp_path)
    for output in ("", ".", str(shared_tmp_path.parent)):
        assert main(["run", str(config), "--output", output, "--overwrite"]) == INPUT_ERROR
    assert (shared_tmp_path / "short.yaml").is_file()
    assert (shared_tmp_path / "diagnostics.csv").read_text() == "mine"


def test_overwrite_keeps_foreign_file_in_results(comm, shared_tmp_path):
    config = shared_tmp_path / "short.yaml"
    results = shared_tmp_path / "results"
    if comm.rank == 0:
        write(config, SHORT_RUN.replace("t_end: 2.0", "t_end: 0.5"))
    comm.Barrier()
    assert main(["run", str(config), "--output", str(results)]) == 0
    if comm.rank == 0:
        write(results / "thesis.tex", "keep me")
    comm.Barrier()
    assert main(["run", str(config), "--output", str(results), "--overwrite"]) == INPUT_ERROR
    assert (results / "thesis.tex").read_text() == "keep me"


def test_output_under_a_file_rejected(comm, shared_tmp_path, capsys):
    config = shared_tmp_path / "short.yaml"
    if comm.rank == 0:
        write(config, SHORT_RUN)
        write(shared_tmp_path / "afile", "")
    comm.Barrier()
    status = main(["run", str(config), "--output", str(shared_tmp_path / "afile" / "sub")])
    assert status == INPUT_ERROR
    if comm.rank == 0:
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_failed_run_keeps_earlier_results(comm, shared_tmp_path):
    good = shared_tmp_path / "good.yaml"
    failing = shared_tmp_path / "failing.yaml"
    results = shared_tmp_path / "results"
    if comm.rank == 0:
        write(good, SHORT_RUN)
        # One GMRES iteration without a preconditioner cannot reach rtol 1e-14.
        write(failing, SHORT_RUN + "solver: {petsc_options: {ksp_type: gmres, pc_type: none, "
                                   "ksp_max_it: 1, ksp_rtol: 1.0e-14}}\n")
    comm.Barrier()
    assert main(["run", str(good), "--output", str(results)]) == 0
    before = (results / "checkpoint.npz").read_bytes()
    assert main(["run", str(failing), "--output", str(results), "--overwrite"]) == 1
    assert (results / "checkpoint.npz").read_bytes() == before
    assert (shared_tmp_path / "results.incomplete" / "config.yaml").is_file()
    # A later successful run cleans up what the failed one left.
    assert main(["run", str(good), "--output", str(results), "--overwrite"]) == 0
    assert not (shared_tmp_path / "results.incomplete").exists()


def run_short(shared_tmp_path, output, *flags):
    """Run the short config (written beforehand on rank 0) and return the exit status."""
    return main(["run", str(shared_tmp_path / "short.yaml"), "--output", str(output), *flags])


def test_running_run_not_disturbed(comm, shared_tmp_path):
    """A second run to the same output is rejected while the first one's lock is live."""
    working = shared_tmp_path / "results.incomplete"
    if comm.rank == 0:
        write(shared_tmp_path / "short.yaml", SHORT_RUN)
        working.mkdir()
        (working / "config.yaml").write_text("written by a live run")
        # This test process is alive, so the lock looks like a running run.
        (working / "attnflow.lock").write_text(f"{socket.gethostname()} {os.getpid()}\n")
    comm.Barrier()
    assert run_short(shared_tmp_path, shared_tmp_path / "results") == INPUT_ERROR
    assert (working / "config.yaml").read_text() == "written by a live run"


def test_stale_incomplete_symlink_untouched(comm, shared_tmp_path):
    user = shared_tmp_path / "project"
    if comm.rank == 0:
        write(shared_tmp_path / "short.yaml", SHORT_RUN)
        user.mkdir()
        write(user / "config.yaml", "mine")
        (shared_tmp_path / "results.incomplete").symlink_to(user)
    comm.Barrier()
    assert run_short(shared_tmp_path, shared_tmp_path / "results") == INPUT_ERROR
    assert (user / "config.yaml").read_text() == "mine"


def test_overwrite_needs_attnflow_provenance(comm, shared_tmp_path):
    folder = shared_tmp_path / "experiment"
    if comm.rank == 0:
        write(shared_tmp_path / "short.yaml", SHORT_RUN)
        folder.mkdir()
        write(folder / "config.yaml", "# my notes\n")
        write(folder / "diagnostics.csv", "mine")
    comm.Barrier()
    assert run_short(shared_tmp_path, folder, "--overwrite") == INPUT_ERROR
    assert (folder / "config.yaml").read_text() == "# my notes\n"
