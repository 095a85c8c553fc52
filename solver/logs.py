"""Logging set-up for runs: one handler, and only rank 0 of the run writes."""

import logging
import sys


class _RankZeroFilter(logging.Filter):
    def __init__(self, rank: int):
        super().__init__()
        self.rank = rank

    def filter(self, record: logging.LogRecord) -> bool:
        return self.rank == 0


def configure_logging(comm, level: int = logging.INFO):
    """Send the project's log records to stderr on rank 0 of comm only."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                           datefmt="%H:%M:%S"))
    handler.addFilter(_RankZeroFilter(comm.rank))
    for name in ("solver", "meshes"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
