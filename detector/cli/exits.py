"""The exit codes every command shares, and the error that ends a command with one line."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # something failed after its retries (the output says what)
EXIT_BAD_INPUT = 2  # bad input, flag or setting; or nothing can work (credentials, table, ...)
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141  # the reader went away (``| head``): as if killed by SIGPIPE, quietly
