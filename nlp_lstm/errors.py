"""The exceptions a user can cause, so the CLI can show each as one line with its exit code."""


class NlpLstmError(Exception):
    """An error caused by input, options or files; its message names the fix. CLI exit code 1."""

    exit_code = 1


class UsageError(NlpLstmError):
    """Options or arguments that cannot work (out of range, conflicting, missing). CLI exit code 2."""

    exit_code = 2


class Interrupted(NlpLstmError):
    """Stopped by Ctrl-C or SIGTERM after saving what can be resumed. CLI exit code 130."""

    exit_code = 130


class TrainingError(NlpLstmError):
    """Training cannot start or had to stop (diverged, bad output directory)."""


class TrainingUsageError(TrainingError, UsageError):
    """Training cannot start with these options (conflicting, unavailable device, occupied output)."""


class DataError(NlpLstmError):
    """A dataset cannot be found, read, or does not have what the task needs."""


class ModelLoadError(NlpLstmError):
    """A model directory is missing, damaged, of a newer format or of the wrong kind."""
