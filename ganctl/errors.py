"""The error types ganctl raises for user-facing problems, and the exit code each maps to.

Our own errors carry one line that names the file, key or flag and says what to do; the CLI prints that line and
exits with the code. Anything else that escapes is a bug and keeps its traceback.
"""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class GanctlError(Exception):
    """A problem the user can act on. `exit_code` is what the CLI exits with."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UsageError(GanctlError):
    """Bad flags, bad config keys or values, missing or unreadable input files (exit 2)."""

    exit_code = EXIT_USAGE


class DataError(UsageError):
    """Input data that cannot be used (empty folder, unreadable dataset, strict-mode rejects)."""


class CheckpointError(GanctlError):
    """A checkpoint that is missing, truncated or fails its integrity check (exit 1)."""


class TrainingDiverged(GanctlError):
    """Non-finite losses or weights stopped a run (exit 1); the last good checkpoint is kept."""


class NotImplementedYet(UsageError):
    """A command that exists in the CLI but is not available in this build (exit 2)."""


class Interrupted(GanctlError):
    """The run was interrupted (Ctrl-C / SIGTERM) after saving resumable state (exit 130)."""

    exit_code = EXIT_INTERRUPTED
