"""``python -m solver`` is the attnflow command."""

from solver.cli import console_main

console_main()
