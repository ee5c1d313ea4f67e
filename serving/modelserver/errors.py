"""The runtime's two errors: bad input the user can fix, and a server that did not behave."""


class ModelServerError(Exception):
    """TorchServe did not start, stop or answer as expected; the message says why and quotes its logs."""


class InvalidSetup(ModelServerError):
    """The request cannot be carried out as given (no model store, a port in use, no Java …).

    Its message is one line; the CLI prints it and exits with 2.
    """
