"""The default experiment's VTK and XDMF output, read back by ParaView's own readers.

Runs pvpython under xvfb-run on the results of a shortened default run and
compares every time step's "density" cell array with the solver's values,
cell by cell (matched through the cell centers). Skipped when ParaView is
not installed, unless ATTNFLOW_REQUIRE_PARAVIEW is set (as in CI).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from solver.config import load_settings
from solver.stepping import run

pytestmark = pytest.mark.serial

HERE = Path(__file__).parent
REPOSITORY = HERE.parent


def paraview_available() -> bool:
    return shutil.which("pvpython") is not None and shutil.which("xvfb-run") is not None


def order_by_position(centers: np.ndarray) -> np.ndarray:
    """Return the permutation that sorts cells by their (rounded) centers."""
    rounded = np.round(centers, 9)
    return np.lexsort(rounded.T[::-1])


@pytest.fixture(scope="module")
def default_results(tmp_path_factory):
    settings = load_settings(REPOSITORY / "experiments" / "default.yaml")
    settings.time.t_end = 2.0
    settings.output.every = 2
    recorded = []

    def record(step, time, simulation):
        owned = simulation.num_owned
        recorded.append((time, simulation.owned_density().copy(),
                         simulation.geometry.cell_centroids[:owned].copy()))

    from mpi4py import MPI

    directory = tmp_path_factory.mktemp("default") / "results"
    run(settings, MPI.COMM_SELF, directory=directory, observers=[record])
    return directory, recorded


def test_paraview_reads_every_step(default_results, tmp_path):
    if not paraview_available():
        if os.environ.get("ATTNFLOW_REQUIRE_PARAVIEW"):
            pytest.fail("ATTNFLOW_REQUIRE_PARAVIEW is set but pvpython or xvfb-run is missing")
        pytest.skip("ParaView not installed (apt-get install paraview python3-paraview xvfb)")
    directory, recorded = default_results
    output = tmp_path / "paraview.json"
    completed = subprocess.run(
        ["xvfb-run", "-a", "pvpython", str(HERE / "paraview_read.py"), str(directory),
         str(output)],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    series = json.loads(output.read_text())

    expected_times = [time for time, _, _ in recorded]
    assert expected_times == [0.0, 0.5, 1.0, 1.5, 2.0]
    for name in ("vtk", "xdmf"):
        assert series[name]["times"] == pytest.approx(expected_times), name
        for (time, density, centroids), step in zip(recorded, series[name]["steps"]):
            assert step["density"] is not None, f"{name}: no 'density' array at t = {time}"
            read_values = np.array(step["density"])
            read_centers = np.array(step["centers"])
            assert read_values.shape == density.shape, f"{name} at t = {time}"
            expected = density[order_by_position(centroids)]
            actual = read_values[order_by_position(read_centers)]
            # ASCII VTK output keeps 16 significant digits; XDMF/HDF5 is binary.
            assert np.abs(actual - expected).max() <= 1e-14 * np.abs(expected).max(), (
                f"{name} at t = {time}")
