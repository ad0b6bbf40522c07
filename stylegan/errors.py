"""The one exception type for problems a person can cause (bad path, corrupt file, bad argument)."""


class StyleGANError(Exception):
    """A problem with the user's input, with a message that says what was wrong and what to do.

    The command line prints it without a traceback; the GUI shows it and keeps running.
    Bugs stay ordinary exceptions.
    """
