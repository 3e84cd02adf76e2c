"""Command line (``python -m detector``): ``classify`` recorded events offline, ``replay`` them
through the pipeline, ``redrive`` the dead-letter queue, ``backfill`` from the S3 archive,
``sweep`` the accounts. One module per command; ``app`` parses and ends them all alike.
"""

from detector.cli.app import main
from detector.cli.classify import classify_files
from detector.cli.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "classify_files", "main"]
