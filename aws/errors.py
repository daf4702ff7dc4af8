"""The one error type the helper turns into a single-line message and a non-zero exit."""


class HelperError(Exception):
    """A problem the user can fix; the message says what and where."""


class Interrupted(BaseException):
    """SIGTERM (or SIGINT) arrived; raised so that `finally` blocks clean up what we created.

    A BaseException, like KeyboardInterrupt, so that `except Exception` does not swallow it.
    """

    def __init__(self, signum: int):
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum
