# A real MCP server for the emulator's remote-MCP tests: the official `mcp` SDK's MCPServer,
# served over streamable HTTP by uvicorn on a loopback socket in a thread of its own.
from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from mcp.server.mcpserver import MCPServer


def make_server() -> MCPServer:
    server: MCPServer = MCPServer("emulator-test-tools")

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Say who is calling.")
    def whoami() -> str:
        return "the emulator"

    @server.tool(description="Always fails.")
    def explode() -> str:
        raise RuntimeError("the tool exploded")

    return server


@contextmanager
def serve_mcp() -> Iterator[str]:
    """Serve the test tools; yields the endpoint URL (`http://127.0.0.1:PORT/mcp`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections wait in the backlog until uvicorn accepts them
    port = sock.getsockname()[1]
    app = make_server().streamable_http_app(stateless_http=True, json_response=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="mcp-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
