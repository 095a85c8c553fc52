"""Wall-clock time per phase of a run, summed over calls.

Each rank times its own work; ``report`` reduces the totals over ranks
(collective) so the log shows the slowest rank's time per phase.
"""

import time
from collections import defaultdict
from contextlib import contextmanager

from mpi4py import MPI


class PhaseTimer:
    """Accumulates the wall-clock time and call count of named phases."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self.calls = defaultdict(int)

    @contextmanager
    def phase(self, name: str):
        """Time the enclosed block as one call of the named phase."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start
            self.calls[name] += 1

    def report(self, comm) -> dict:
        """Return {phase: (calls, max seconds over ranks)}.

        Collective: every rank must have timed the same phases.
        """
        return {
            name: (self.calls[name], comm.allreduce(self.seconds[name], op=MPI.MAX))
            for name in sorted(self.seconds)
        }
