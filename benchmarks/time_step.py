"""Benchmark of whole time steps of the solver, phase by phase (not a test).

For each icosahedral level and inverse temperature, builds the problem of
experiments/default.yaml on that mesh and with that beta (D = I, ascent,
random perturbation, the interaction method chosen by "auto") and times a
few steps after one warm-up step. A step
is the velocity (interaction at the facets), the assembly and the solve of
the transport problem, and the diagnostics of the new density (one more
interaction at the cells, reductions and the cluster count). Each phase time
is the maximum over the ranks, per step. Memory is the peak resident set
size of the largest rank over the process so far. Levels run in ascending
order, so that peak belongs to the row's own level.

    .venv/bin/python benchmarks/time_step.py --levels 5 6 7 8
    mpirun -n 2 .venv/bin/python benchmarks/time_step.py --levels 5 6 7 8

Each run writes benchmarks/results/time_step-np<ranks>.json and rewrites
benchmarks/results/time_step.md from every such JSON file.
"""

import argparse
import json
import resource
import time
from pathlib import Path

from mpi4py import MPI

from solver.config import load_settings
from solver.simulation import Simulation

REPOSITORY = Path(__file__).resolve().parent.parent
RESULTS = REPOSITORY / "benchmarks" / "results"
PHASES = ("interaction", "assembly", "solve", "diagnostics")

# Iterative solve: the matrix M/dt + A is an M-matrix dominated by its
# diagonal, so GMRES with block-Jacobi ILU needs about 15 iterations.
ITERATIVE_OPTIONS = {
    "ksp_type": "gmres",
    "pc_type": "bjacobi",
    "sub_pc_type": "ilu",
    "ksp_rtol": 1e-14,
    "ksp_atol": 1e-300,
}


def measure(comm, level: int, steps: int, solver: str, beta: float) -> dict:
    """Time `steps` steps at one level (collective); return one table row."""
    settings = load_settings(REPOSITORY / "experiments" / "default.yaml")
    settings.mesh.level = level
    settings.model.beta = beta
    if solver == "gmres":
        settings.solver.petsc_options = dict(ITERATIVE_OPTIONS)

    comm.Barrier()
    start = time.perf_counter()
    simulation = Simulation(settings, comm)
    simulation.set_initial_density()
    setup_seconds = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)

    # One warm-up step (numba and form compilation, first factorization), not timed.
    simulation.step(settings.time.dt)
    simulation.diagnostics()
    simulation.timer.seconds.clear()
    simulation.timer.calls.clear()

    comm.Barrier()
    start = time.perf_counter()
    for _ in range(steps):
        simulation.step(settings.time.dt)
        simulation.diagnostics()
    comm.Barrier()
    step_seconds = comm.allreduce(time.perf_counter() - start, op=MPI.MAX) / steps

    phases = simulation.timer.report(comm)
    peak_kib = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, op=MPI.MAX)
    return {
        "level": level,
        "beta": beta,
        "cells": simulation.num_cells,
        "ranks": comm.size,
        "solver": solver,
        "interaction": simulation.interaction.description.split(",")[0],
        "setup_seconds": setup_seconds,
        "step_seconds": step_seconds,
        **{f"{name}_seconds": phases.get(name, (0, 0.0))[1] / steps for name in PHASES},
        "peak_memory_mib": peak_kib / 1024.0,
    }


def write_table():
    """Rewrite time_step.md from every time_step-np*.json in the results folder."""
    rows = []
    for path in sorted(RESULTS.glob("time_step-np*.json")):
        rows.extend(json.loads(path.read_text())["rows"])
    rows.sort(key=lambda row: (row["beta"], row["level"], row["solver"], row["ranks"]))
    lines = [
        "| beta | level | cells | ranks | solve | step (s) | interaction | assembly | solve | "
        "diagnostics | setup (s) | peak memory per rank (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['beta']:g} | {row['level']} | {row['cells']} | {row['ranks']} | "
            f"{row['solver']} | "
            f"{row['step_seconds']:.3g} | {row['interaction_seconds']:.3g} | "
            f"{row['assembly_seconds']:.3g} | {row['solve_seconds']:.3g} | "
            f"{row['diagnostics_seconds']:.3g} | {row['setup_seconds']:.3g} | "
            f"{row['peak_memory_mib']:.0f} |"
        )
    (RESULTS / "time_step.md").write_text("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[5, 6, 7, 8],
                        help="icosahedral levels to time (default 5 6 7 8)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per level")
    parser.add_argument("--solvers", nargs="+", default=["gmres", "lu"],
                        choices=["gmres", "lu"],
                        help="transport solvers: gmres (block-Jacobi ILU) and/or lu (MUMPS)")
    parser.add_argument("--beta", type=float, nargs="+", default=[1.0, 10.0],
                        help="inverse temperatures to time, with D = I (default 1 10)")
    parser.add_argument("--max-lu-level", type=int, default=7,
                        help="skip the LU solve above this level (default 7)")
    args = parser.parse_args()

    comm = MPI.COMM_WORLD
    rows = []
    # Levels ascend in the outer loop, so each row's peak memory (of the process so
    # far) belongs to its own level.
    for level in args.levels:
        for beta in args.beta:
            for solver in args.solvers:
                if solver == "lu" and level > args.max_lu_level:
                    continue
                row = measure(comm, level, args.steps, solver, beta)
                rows.append(row)
                if comm.rank == 0:
                    print(json.dumps(row), flush=True)
    if comm.rank == 0:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"time_step-np{comm.size}.json"
        path.write_text(json.dumps({"rows": rows}, indent=1))
        write_table()


if __name__ == "__main__":
    main()
