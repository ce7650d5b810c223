"""The one exception type a user can cause, so the CLI can show it as one line."""


class NlpLstmError(Exception):
    """An error caused by input, options or files; its message names the fix."""
