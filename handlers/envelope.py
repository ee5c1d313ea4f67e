"""The batch envelope: several client requests in one TorchServe request, and their answers in one response.

The gateway coalesces the requests that arrive for a model while its previous call is in flight into one
envelope; the handler unpacks it, answers every request exactly as if it had come alone (its own status and
content type, a bad one failing alone), and packs the answers in the same order. TorchServe's frontend and
the gateway's HTTP client then do their per-request work once per envelope instead of once per request.

Binary framing (no JSON parse or base64 on the way), all integers big-endian:
    request:  MAGIC, then per item: u16 len + headers ("name: value" lines, latin-1), u32 len + body
    response: MAGIC, then per item: u16 status, u8 len + content type, u32 len + body
The length fields bound what one item can carry (MAX_HEADER_BLOCK, MAX_CONTENT_TYPE, MAX_BODY); an item over
them raises ItemTooLarge naming the field, so the sender can refuse that request alone and send the others.
Standard library only: the gateway imports this module without torch.
"""

import struct

CONTENT_TYPE = "application/x-batch-envelope"
MAGIC = b"BEv1"
MAX_ITEMS = 1024

_U8, _U16, _U32 = struct.Struct(">B"), struct.Struct(">H"), struct.Struct(">I")
MAX_HEADER_BLOCK = 0xFFFF  # bytes: the u16 length of a request's headers
MAX_CONTENT_TYPE = 0xFF  # bytes: the u8 length of an answer's content type
MAX_BODY = 0xFFFFFFFF  # bytes: the u32 length of a body


class EnvelopeError(ValueError):
    """A malformed envelope (truncated, wrong magic, too many items)."""


class ItemTooLarge(EnvelopeError):
    """One request or answer that the framing cannot carry; the other items of the envelope can still travel."""


def header_block(headers: dict[str, str]) -> bytes:
    """A request's headers as the envelope carries them ("name: value" lines, names lower-case, latin-1);
    ItemTooLarge if they cannot travel."""
    text = "\n".join(f"{name.lower()}: {value}" for name, value in headers.items())
    try:
        block = text.encode("latin-1")
    except UnicodeEncodeError:
        raise ItemTooLarge("header values must be latin-1 (as HTTP/1.1 carries them)") from None
    if len(block) > MAX_HEADER_BLOCK:
        raise ItemTooLarge(f"the headers take {len(block)} bytes; a batch envelope carries at most "
                           f"{MAX_HEADER_BLOCK} bytes of headers per request")
    return block


def pack_requests(items: list[tuple[dict[str, str], bytes]]) -> bytes:
    """(headers, body) pairs → one envelope body. Only the headers a handler reads need to travel
    (content-type, accept). ItemTooLarge if one item cannot travel: check each with `header_block` first."""
    parts = [MAGIC]
    for headers, body in items:
        block = header_block(headers)
        parts += [_U16.pack(len(block)), block, _U32.pack(_body_length(body)), body]
    return b"".join(parts)


def unpack_requests(data: bytes) -> list[tuple[dict[str, str], bytes]]:
    """One envelope body → its (headers, body) pairs."""
    reader = _Reader(data)
    items = []
    while not reader.done():
        block = reader.take(reader.number(_U16)).decode("latin-1")
        headers = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        items.append((headers, reader.take(reader.number(_U32))))
    return items


def pack_responses(items: list[tuple[int, str, bytes]]) -> bytes:
    """(status, content type, body) triples → one envelope response body (ItemTooLarge if one cannot travel)."""
    parts = [MAGIC]
    for status, content_type, body in items:
        kind = content_type.encode("latin-1")
        if len(kind) > MAX_CONTENT_TYPE:
            raise ItemTooLarge(f"a content type of {len(kind)} bytes; a batch envelope carries at most "
                               f"{MAX_CONTENT_TYPE}")
        parts += [_U16.pack(status), _U8.pack(len(kind)), kind, _U32.pack(_body_length(body)), body]
    return b"".join(parts)


def _body_length(body: bytes) -> int:
    if len(body) > MAX_BODY:
        raise ItemTooLarge(f"a body of {len(body)} bytes; a batch envelope carries at most {MAX_BODY} per item")
    return len(body)


def unpack_responses(data: bytes) -> list[tuple[int, str, bytes]]:
    """One envelope response body → its (status, content type, body) triples."""
    reader = _Reader(data)
    items = []
    while not reader.done():
        status = reader.number(_U16)
        kind = reader.take(reader.number(_U8)).decode("latin-1")
        items.append((status, kind, reader.take(reader.number(_U32))))
    return items


class _Reader:
    def __init__(self, data: bytes) -> None:
        if data[:len(MAGIC)] != MAGIC:
            raise EnvelopeError("not a batch envelope (bad magic)")
        self.data, self.offset, self.items = memoryview(data), len(MAGIC), 0

    def done(self) -> bool:
        if self.offset < len(self.data):
            self.items += 1
            if self.items > MAX_ITEMS:
                raise EnvelopeError(f"a batch envelope holds at most {MAX_ITEMS} items")
            return False
        return True

    def number(self, fmt: struct.Struct) -> int:
        return int(fmt.unpack(self.take(fmt.size))[0])

    def take(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise EnvelopeError("truncated batch envelope")
        chunk, self.offset = bytes(self.data[self.offset:end]), end
        return chunk
