"""The handler's error: bad input for one request, reported with a 4xx status and a message."""


class InvalidInput(ValueError):
    """A request the model cannot answer; only that request fails, with `status` and the message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class PayloadTooLarge(InvalidInput):
    """An input bigger than the handler accepts (e.g. an image of huge dimensions)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=413)


REASONS = {400: "Bad Request", 404: "Not Found", 413: "Payload Too Large", 415: "Unsupported Media Type",
           500: "Internal Server Error", 501: "Not Implemented"}
