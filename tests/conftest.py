"""Fixtures shared by the suite, which runs both serially and under mpirun.

Under mpirun every rank runs every test. Tests that start processes or tools
of their own carry the ``serial`` marker, so they are skipped on more than
one rank.
"""

import gc
from pathlib import Path

import pytest
from mpi4py import MPI


@pytest.fixture
def comm():
    """The communicator of the test run (COMM_WORLD)."""
    return MPI.COMM_WORLD


@pytest.fixture
def shared_tmp_path(tmp_path, comm) -> Path:
    """Return rank 0's tmp_path on every rank, a directory all ranks can use."""
    return Path(comm.bcast(str(tmp_path), root=0))


def pytest_runtest_setup(item):
    if item.get_closest_marker("serial") and MPI.COMM_WORLD.size > 1:
        pytest.skip("serial test: starts processes of its own, runs only on one rank")


@pytest.fixture(autouse=True)
def _collect_between_tests():
    """Free PETSc objects on all ranks together, so collective destructors match."""
    yield
    gc.collect()
    MPI.COMM_WORLD.Barrier()
