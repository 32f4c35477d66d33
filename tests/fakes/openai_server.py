"""A loopback stand-in for the OpenAI Chat Completions endpoint (written from the public
API reference), for the real `openai` client pointed at it by `base_url`.

`GET /v1/models` lists `models`. `POST /v1/chat/completions` answers with a
`chat.completion` object, or, when the request has `"stream": true`, with Server-Sent
Events of `chat.completion.chunk` objects ending in `data: [DONE]` (content deltas word
by word; tool calls as an id/name delta followed by argument fragments). Every request
body is recorded in `requests`.

Each request takes the next item of the script. An item is a dict, or a callable taking
the request body and returning one:
- `{"content": "..."}` - a spoken answer;
- `{"tool_calls": [{"name": ..., "arguments": dict | str}]}` - tool calls (a str is sent
  as it is, so malformed JSON can be replayed);
- `{"status": 429 | 500 | ..., "message": ...}` - an API error with OpenAI's error body;
- `"delay_s": seconds` in any item - wait that long before answering (timeouts).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Script = list[dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]]


class FakeOpenAI:
    """The fake server; use as a context manager. `base_url` is `http://127.0.0.1:<port>/v1`."""

    def __init__(self, script: Script | Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self._script = script
        self._pos = 0
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        #: The `GET /v1/models` answer (OpenAI's list object).
        self.models: dict[str, Any] = {"object": "list", "data": []}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(body)
            if callable(self._script):
                item: Any = self._script
            else:
                if self._pos >= len(self._script):
                    return {"status": 500, "message": "fake: script exhausted"}
                item = self._script[self._pos]
                self._pos += 1
        return item(body) if callable(item) else item

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                fake.paths.append(self.path)
                if self.path.rstrip("/") == "/v1/models":
                    self._json(200, fake.models)
                else:
                    self._json(404, {"error": {"message": "no such route", "type": "invalid"}})

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                fake.paths.append(self.path)
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._json(404, {"error": {"message": "no such route", "type": "invalid"}})
                    return
                item = fake._next(body)
                if item.get("delay_s"):
                    time.sleep(item["delay_s"])
                if "status" in item:
                    err = {"message": item.get("message", "fake error"), "type": "fake"}
                    self._json(item["status"], {"error": err})
                    return
                cid = f"chatcmpl-fake{next(fake._ids)}"
                if body.get("stream"):
                    self._stream(cid, body, item)
                else:
                    self._json(200, _completion(cid, body, item))

            def _json(self, status: int, obj: dict[str, Any]) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, cid: str, body: dict[str, Any], item: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for chunk in _chunks(cid, body, item):
                    self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
                self._chunk(b"data: [DONE]\n\n")
                self._chunk(b"")

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        return Handler


def _tool_calls(item: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for k, tc in enumerate(item.get("tool_calls") or []):
        args = tc.get("arguments", {})
        out.append(
            {
                "id": f"call_{k}_{tc['name']}",
                "type": "function",
                "function": {
                    "name": tc["name"],
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                },
            }
        )
    return out


def _completion(cid: str, body: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    calls = _tool_calls(item)
    message: dict[str, Any] = {"role": "assistant", "content": item.get("content")}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if calls else "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunks(cid: str, body: dict[str, Any], item: dict[str, Any]) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    out = [chunk({"role": "assistant", "content": ""})]
    calls = _tool_calls(item)
    for i, tc in enumerate(calls):
        head = {"index": i, "id": tc["id"], "type": "function"}
        out.append(chunk({"tool_calls": [{**head, "function": {"name": tc["function"]["name"]}}]}))
        args = tc["function"]["arguments"]
        for j in range(0, len(args), 8):
            out.append(
                chunk({"tool_calls": [{"index": i, "function": {"arguments": args[j : j + 8]}}]})
            )
    for word in (item.get("content") or "").split(" "):
        if word:
            out.append(chunk({"content": word + " "}))
    out.append(chunk({}, "tool_calls" if calls else "stop"))
    return out
