"""attnflow plot: figures from a finished run on S^2 and S^1."""

import subprocess
import sys

import pytest
from mpi4py import MPI

import solver.plots
from solver.cli import INPUT_ERROR, main
from solver.stepping import run
from support import make_settings

pytestmark = pytest.mark.serial

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def short_run(directory, mesh, output_format="both"):
    settings = make_settings(
        mesh=mesh, model={"beta": 3.0}, output={"format": output_format},
        initial={"perturbation": {"kind": "random", "amplitude": 0.3}},
        time={"dt": 0.5, "t_end": 1.0},
    )
    run(settings, MPI.COMM_SELF, directory=directory)


@pytest.mark.parametrize("mesh", [{"level": 2}, {"sphere": "S1", "segments": 64}])
@pytest.mark.parametrize("output_format", ["vtk", "xdmf"])
def test_plot_writes_figures(tmp_path, mesh, output_format):
    if "level" in mesh and not solver.plots.rendering_available():
        pytest.skip("no off-screen rendering (apt-get install libegl1 libegl-mesa0 "
                    "libgl1-mesa-dri)")
    directory = tmp_path / "results"
    short_run(directory, mesh, output_format)
    # attnflow plot runs in a process of its own, without DOLFINx, as users run it.
    completed = subprocess.run([sys.executable, "-m", "solver", "plot", str(directory)],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    for name in ("diagnostics.png", "density_final.png"):
        data = (directory / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        assert len(data) > 5000, name


def test_plot_missing_directory(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "absent")]) == INPUT_ERROR
    assert "not found" in capsys.readouterr().err


def test_plot_without_rendering_writes_nothing(tmp_path, monkeypatch, capsys):
    directory = tmp_path / "results"
    short_run(directory, {"level": 1})
    monkeypatch.setattr(solver.plots, "rendering_available", lambda: False)
    assert main(["plot", str(directory)]) == INPUT_ERROR
    assert "EGL" in capsys.readouterr().err
    assert not (directory / "diagnostics.png").exists()


def test_plot_rejects_damaged_table(tmp_path, capsys):
    directory = tmp_path / "results"
    short_run(directory, {"sphere": "S1", "segments": 32})
    (directory / "diagnostics.csv").write_bytes(b"\xff\xfe\x00garbage")
    assert main(["plot", str(directory)]) == INPUT_ERROR
    assert "not a diagnostics table" in capsys.readouterr().err
