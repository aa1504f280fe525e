"""Errors the runtime raises; each message says what is wrong and what to do."""


class RuntimeStartError(RuntimeError):
    """A service could not be started or configured."""
