"""The time loop: step, diagnose, write, and stop at the right moment.

``run`` is collective over its communicator. It checks every input (the
checkpoint, the output directory) before it creates any file.
"""

import logging
import time as clock
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from solver.checkpoint import read_checkpoint
from solver.config import Settings
from solver.diagnostics import total
from solver.output import (
    ResultsWriter,
    abandon_results_directory,
    check_results_directory,
    finish_results_directory,
    start_results_directory,
)
from solver.simulation import Simulation

logger = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """Summary of a finished run: steps, end time, stop reason, results directory."""

    steps: int
    time: float
    stop_reason: str
    directory: Path


def run(settings: Settings, comm, directory=None, overwrite=False, observers=()) -> RunSummary:
    """Run one experiment and write its results.

    Args:
        settings: Validated settings.
        comm: MPI communicator to run on.
        directory: Results directory; settings.output.directory if None.
        overwrite: Whether to replace an earlier results directory.
        observers: Callables observer(step, time, simulation) called at every
            output step, after the density has been written.
    """
    directory = Path(directory if directory is not None else settings.output.directory)
    settings.output.directory = str(directory)
    check_results_directory(comm, directory, overwrite)

    simulation = Simulation(settings, comm)
    checkpoint = None
    if settings.initial.type == "file":
        checkpoint = read_checkpoint(
            settings.initial.file, simulation.mesh_id, simulation.num_cells
        )
    simulation.set_initial_density(checkpoint)

    # Results go to DIRECTORY.incomplete and replace DIRECTORY only when the run succeeds.
    working = start_results_directory(comm, directory, overwrite)
    writer = ResultsWriter(comm, working, settings, simulation.msh, simulation.mesh_id)
    try:
        summary = _time_loop(settings, simulation, writer, observers)
    except Exception:
        writer.close()
        abandon_results_directory(comm, directory)
        logger.error("run failed; the results written so far are in %s", working)
        raise
    writer.close()
    finish_results_directory(comm, directory)
    summary.directory = directory
    return summary


def _time_loop(settings, simulation, writer, observers) -> RunSummary:
    dt_max = settings.time.dt
    t_end = settings.time.t_end
    max_steps = settings.time.max_steps
    steady_tolerance = settings.time.steady_tolerance
    every = settings.output.every
    sizes = simulation.geometry.cell_sizes[: simulation.num_owned]
    start = clock.perf_counter()

    step, t, dt = 0, 0.0, 0.0
    stop_reason = None
    initial_mass = None
    while True:
        row = {"step": step, "time": t, "dt": dt, **simulation.diagnostics()}
        writer.write_diagnostics(row)
        initial_mass = row["mass"] if initial_mass is None else initial_mass
        _check_health(row, initial_mass)
        is_last = stop_reason is not None
        if step % every == 0 or is_last:
            _write_output(writer, simulation, step, t, observers)
            logger.info(
                "step %d  t = %.6g  energy = %.12g  mass = %.15g  wall %.2f s",
                step, t, row["energy"], row["mass"], clock.perf_counter() - start,
            )
        if is_last:
            break

        dt = min(dt_max, t_end - t)
        previous = simulation.owned_density().copy()
        simulation.step(dt)
        step += 1
        t = t_end if t_end - (t + dt) <= 1e-12 * t_end else t + dt

        if t >= t_end:
            stop_reason = f"reached t_end = {t_end:g}"
        elif max_steps is not None and step >= max_steps:
            stop_reason = f"reached max_steps = {max_steps}"
        elif steady_tolerance > 0.0:
            change = total(simulation.comm, np.dot(np.abs(simulation.owned_density() - previous),
                                                   sizes))
            if change / dt < steady_tolerance:
                stop_reason = (f"steady state: density changes by {change / dt:.3g} per unit "
                               f"time, below time.steady_tolerance = {steady_tolerance:g}")

    logger.info("stopped after %d steps at t = %.6g: %s", step, t, stop_reason)
    for name, (calls, seconds) in simulation.timer.report(simulation.comm).items():
        logger.info("time in %-12s %8.3f s over %d calls (slowest rank)", name, seconds, calls)
    return RunSummary(steps=step, time=t, stop_reason=stop_reason, directory=Path())


MASS_DRIFT_LIMIT = 1e-8
"""Largest relative mass change accepted before the run is stopped as broken down."""


def _check_health(row: dict, initial_mass: float):
    """Raise RuntimeError if the density has lost mass, positivity or finiteness.

    The scheme conserves mass to round-off and keeps the density nonnegative, so a
    violation means the linear solve failed (for example at absurd scales of dt,
    the matrices or the noise). Every rank gets the same reduced values and raises.
    """
    mass, low, high = row["mass"], row["min_density"], row["max_density"]
    broken = not (np.isfinite(mass) and np.isfinite(low) and np.isfinite(high))
    broken = broken or abs(mass - initial_mass) > MASS_DRIFT_LIMIT * abs(initial_mass)
    broken = broken or low < -MASS_DRIFT_LIMIT * abs(high)
    if broken:
        raise RuntimeError(
            f"the solution broke down at step {row['step']} (t = {row['time']:g}): mass "
            f"{mass:.6g}, density from {low:.3g} to {high:.3g}; lower time.dt or check the "
            "scales of model.beta, the matrices and model.diffusion"
        )


def _write_output(writer, simulation, step, t, observers):
    writer.write_density(simulation.density, t)
    owned = simulation.num_owned
    writer.write_checkpoint(simulation.owned_density(),
                            simulation.geometry.original_cells[:owned], t, step)
    for observer in observers:
        observer(step, t, simulation)
