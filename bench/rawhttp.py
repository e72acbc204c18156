"""A small HTTP/1.1 keep-alive client on asyncio streams, for load generators.

The load generator runs on the same cores as the server it measures, so every millisecond it
spends per request is taken from the server. httpx cost ~2.8 ms of CPU per request here; this
client sends a prepared request and parses just the status line, the headers it needs
(Content-Length, Transfer-Encoding, Connection) and the body, for well under a millisecond.
Only what the benchmarks need: one host, POST/GET, Content-Length or chunked answers.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass


class HttpError(Exception):
    """No (complete) answer: connection refused or reset, timeout, a malformed answer."""


class ReadTimeout(HttpError):
    pass


class _ClosedBeforeAnswer(HttpError):
    """The connection was closed without a byte of an answer."""


@dataclass
class Response:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


class Pool:
    """Up to `size` persistent connections to one host; a request waits for a free one."""

    def __init__(self, host: str, port: int, size: int, timeout: float = 60.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._idle: asyncio.LifoQueue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(size)

    async def post_json(self, path: str, body: dict, headers: dict[str, str] | None = None) -> Response:
        payload = json.dumps(body, ensure_ascii=False).encode()
        return await self.request(
            "POST", path, payload, {"Content-Type": "application/json", **(headers or {})}
        )

    async def get(self, path: str) -> Response:
        return await self.request("GET", path, b"", {})

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Response:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        message = head.encode() + b"\r\n" + body
        async with self._slots:
            reused = not self._idle.empty()
            conn = self._idle.get_nowait() if reused else await self._connect()
            try:
                return await self._exchange(conn, message)
            except _ClosedBeforeAnswer as exc:
                # The server closed an idle keep-alive connection before reading this request
                # (nothing of an answer arrived): send it again on a new one, as browsers do.
                if not reused:
                    raise HttpError("connection closed before any answer") from exc
                return await self._exchange(await self._connect(), message)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)
        except TimeoutError as exc:
            raise ReadTimeout("connect timeout") from exc
        except OSError as exc:
            raise HttpError(f"connect: {exc}") from exc

    async def _exchange(
        self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], message: bytes
    ) -> Response:
        reader, writer = conn
        try:
            writer.write(message)
            response, keep = await asyncio.wait_for(_read_response(reader), self.timeout)
        except TimeoutError as exc:
            writer.close()
            raise ReadTimeout("read timeout") from exc
        except asyncio.IncompleteReadError as exc:
            writer.close()
            if not exc.partial:
                raise _ClosedBeforeAnswer from exc
            raise HttpError(f"answer cut off: {exc}") from exc
        except (OSError, ValueError) as exc:
            writer.close()
            if isinstance(exc, ConnectionResetError):
                raise _ClosedBeforeAnswer from exc
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc
        if keep:
            self._idle.put_nowait(conn)
        else:
            writer.close()
        return response

    async def close(self) -> None:
        while not self._idle.empty():
            _, writer = self._idle.get_nowait()
            writer.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[Response, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            fields[name.strip().lower()] = value.strip()
    if fields.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.readexactly(int(fields.get("content-length", "0")))
    keep = fields.get("connection", "").lower() != "close"
    return Response(status, body), keep
