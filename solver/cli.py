"""The attnflow command line.

    attnflow run CONFIG.yaml [--output DIR] [--overwrite]
    attnflow plot RESULTS_DIR

Works the same serially and under ``mpirun -n N attnflow run CONFIG.yaml``.
Exit status: 0 on success, 2 for invalid input (command line, config, mesh
file, checkpoint, output directory), 1 when the computation itself fails.
"""

import argparse
import logging
import sys

from mpi4py import MPI

from solver.config import ConfigError, load_settings
from solver.logs import configure_logging

logger = logging.getLogger("solver.cli")

INPUT_ERROR = 2
RUN_ERROR = 1
INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, printed by rank 0 only."""

    def error(self, message):
        if MPI.COMM_WORLD.rank == 0:
            print(f"attnflow: error: {message} (see attnflow --help)", file=sys.stderr)
        sys.exit(INPUT_ERROR)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the attnflow command."""
    parser = _Parser(
        prog="attnflow",
        description="Solve the mean-field self-attention equation on the sphere "
                    "with finite elements.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run_parser = commands.add_parser("run", help="run the experiment of a YAML config file")
    run_parser.add_argument("config", help="YAML experiment file (see experiments/)")
    run_parser.add_argument("--output", help="results directory (default: output.directory "
                                             "of the config)")
    run_parser.add_argument("--overwrite", action="store_true",
                            help="replace an earlier results directory at the same path")
    run_parser.add_argument("--log-level", default="INFO",
                            choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                            help="verbosity of the log on rank 0 (default INFO)")
    plot_parser = commands.add_parser(
        "plot", help="write diagnostics.png and density_final.png into a results directory"
    )
    plot_parser.add_argument("results", help="results directory of a finished run")
    return parser


def main(argv=None) -> int:
    """Run the attnflow command; return its exit status."""
    args = build_parser().parse_args(argv)
    comm = MPI.COMM_WORLD
    for value in (getattr(args, "config", ""), getattr(args, "output", None) or "",
                  getattr(args, "results", "")):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            _report(comm, f"invalid command-line argument {value!r}: not valid UTF-8; "
                          "rename the file or directory")
            return INPUT_ERROR
    configure_logging(comm, getattr(logging, getattr(args, "log_level", "INFO")))
    if args.command == "plot":
        return _plot(comm, args.results)

    # These import DOLFINx, which takes a while: only after the arguments are valid.
    from meshes.from_file import MeshFileError
    from solver.checkpoint import CheckpointError
    from solver.output import OutputError
    from solver.stepping import run
    from solver.transport import MeshQualityError

    try:
        settings = load_settings(args.config)
        summary = run(settings, comm, directory=args.output, overwrite=args.overwrite)
    except (ConfigError, CheckpointError, MeshFileError, MeshQualityError, OutputError) as error:
        _report(comm, error)
        return INPUT_ERROR
    except RuntimeError as error:
        _report(comm, error)
        return RUN_ERROR
    except MemoryError:
        _report(comm, "out of memory; use a coarser mesh or more MPI ranks on more nodes")
        return RUN_ERROR
    except KeyboardInterrupt:
        _report(comm, "interrupted; the results written so far are in the output "
                      "directory's .incomplete sibling")
        return INTERRUPTED
    logger.info("results written to %s", summary.directory)
    return 0


def _plot(comm, directory) -> int:
    from solver.plots import PlotError, plot_results

    if comm.rank != 0:
        return 0
    try:
        plot_results(directory)
    except PlotError as error:
        _report(comm, error)
        return INPUT_ERROR
    return 0


def _report(comm, error):
    """Print the error on rank 0 as one line (messages from libraries may span lines)."""
    if comm.rank == 0:
        message = " ".join(str(error).split())
        print(f"attnflow: error: {message}", file=sys.stderr)


def console_main():
    """Entry point of the attnflow console script."""
    sys.exit(main())
