"""The project's own exceptions: caught once in the CLI and printed as one line."""


class HmbatchError(Exception):
    """A user-facing error: the message says what is wrong, where, and what to do."""


class InputError(HmbatchError):
    """A raw input file is missing, malformed or inconsistent."""


class WorkspaceError(HmbatchError):
    """The workspace is missing something, locked, stale or not writable."""


class SqlError(HmbatchError):
    """A statement of one of the sql/ files failed: the message names the file and the statement."""


class Interrupted(HmbatchError):
    """SIGINT or SIGTERM arrived; the command stopped and kept the previous state."""
