"""HTTP/1.1 request bodies as the sandbox's loopback servers read them (Content-Length or
chunked with trailers): the API Gateway front and the Lambda Runtime API alike."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


def read_body(h: BaseHTTPRequestHandler) -> tuple[bytes, dict[str, str], int]:
    """The request body (de-chunked), its trailers (lower-cased names), and the chunk count."""
    if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
        parts: list[bytes] = []
        chunks = 0
        while True:
            line = h.rfile.readline(65537)
            if not line:
                raise ConnectionError("connection closed inside a chunked body")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                break
            parts.append(h.rfile.read(size))
            h.rfile.readline(3)
            chunks += 1
        trailers: dict[str, str] = {}
        while True:
            line = h.rfile.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            trailers[name.strip().lower()] = value.strip()
        return b"".join(parts), trailers, chunks
    length = int(h.headers.get("Content-Length") or 0)
    return (h.rfile.read(length) if length else b""), {}, 0
