"""Helpers shared by the tests: settings from short dictionaries, gathered arrays."""

import copy

import numpy as np

from solver.config import settings_from_dict


def deep_update(base: dict, changes: dict) -> dict:
    """Return base with changes merged in, section by section."""
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_update(merged[key], value)
        else:
            merged[key] = value
    return merged


def make_settings(**sections):
    """Return validated settings from keyword sections, e.g. model={"beta": 2.0}.

    The interaction defaults to the direct sum, exact to round-off, because
    many tests compare with facts that hold to round-off.
    """
    base = {"time": {"dt": 0.1, "t_end": 1.0}, "interaction": {"method": "direct"}}
    return settings_from_dict(deep_update(base, sections))


def gather_by_input_index(comm, simulation) -> np.ndarray:
    """Return the owned density of all ranks, ordered by input cell index, on every rank."""
    owned = simulation.num_owned
    cells = np.concatenate(comm.allgather(simulation.geometry.original_cells[:owned]))
    values = np.concatenate(comm.allgather(simulation.owned_density().copy()))
    ordered = np.empty_like(values)
    ordered[cells] = values
    return ordered
