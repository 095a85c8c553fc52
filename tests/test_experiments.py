"""Every experiment in experiments/ validates and runs (shortened to two steps)."""

from pathlib import Path

import pytest

from solver.config import load_settings
from solver.stepping import run

EXPERIMENTS = sorted((Path(__file__).parent.parent / "experiments").glob("*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[path.stem for path in EXPERIMENTS])
def test_experiment_runs(comm, shared_tmp_path, path):
    settings = load_settings(path)
    settings.time.max_steps = 2
    summary = run(settings, comm, directory=shared_tmp_path / path.stem)
    assert summary.steps == 2
    assert "max_steps" in summary.stop_reason
    assert (shared_tmp_path / path.stem / "diagnostics.csv").is_file()
