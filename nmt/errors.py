"""The one exception type users can cause, so the CLI can print it on one line."""


class NmtError(Exception):
    """A problem the user can fix: bad input, a missing file, an invalid option.

    The message must say what is wrong, where (file and line, argument name)
    and, when it is not obvious, how to fix it. The CLI prints it as
    ``nmt: error: <message>`` and exits with status 2.
    """


class Interrupted(Exception):
    """Training stopped by SIGINT/SIGTERM after saving a checkpoint; re-running resumes."""

    def __init__(self, signal_name: str, path: str, step: int):
        self.signal_name = signal_name
        self.path = path
        self.step = step
        super().__init__(f"{signal_name}: saved checkpoint {path} at step {step}; re-run to resume")
