"""One exception type for every problem a user can fix: the message names the problem and the fix."""


class AdvlabError(RuntimeError):
    """A problem with the user's data, files or arguments; the message says what to do."""
