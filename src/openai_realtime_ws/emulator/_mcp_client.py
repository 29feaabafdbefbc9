# The emulator's side of remote MCP tools: the requests a session asks for (`McpRequest`: list a
# server's tools, call one), made with the official `mcp` SDK's streamable-HTTP client, one MCP
# session per request, and turned into `McpResult`s with the Realtime API's MCP error objects
# (`http_error`, `protocol_error`, `tool_execution_error`). The `mcp` package is imported on first
# use: without it every request fails with a protocol_error that says what to install.
from __future__ import annotations

import asyncio
from typing import Any

from .core.actions import McpRequest, McpResult

_INSTALL_HINT = "the emulator's MCP tools need the 'mcp' package: pip install 'openai-realtime-ws[emulator-mcp]'"


def _headers(server: dict[str, Any]) -> dict[str, str]:
    headers = {str(k): str(v) for k, v in (server.get("headers") or {}).items()}
    if server.get("authorization"):
        headers["Authorization"] = f"Bearer {server['authorization']}"
    return headers


def _tool_entry(tool: Any) -> dict[str, Any]:
    annotations = getattr(tool, "annotations", None)
    return {
        "name": tool.name,
        "input_schema": getattr(tool, "input_schema", None) or getattr(tool, "inputSchema", None) or {},
        "description": getattr(tool, "description", None),
        "annotations": annotations.model_dump(exclude_none=True) if annotations is not None else None,
    }


def _text_of(result: Any) -> str:
    parts = [getattr(c, "text", None) for c in getattr(result, "content", None) or ()]
    text = "".join(p for p in parts if isinstance(p, str))
    if not text and getattr(result, "structured_content", None) is not None:
        import json

        text = json.dumps(result.structured_content)
    return text


async def request(req: McpRequest, *, timeout: float) -> McpResult:
    url = req.server.get("server_url")
    if not url:
        return McpResult(error={"type": "http_error", "code": 400,
                                "message": "The emulator reaches MCP servers by server_url only (no connectors)."})
    try:
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client
    except ImportError:
        return McpResult(error={"type": "protocol_error", "code": -32603, "message": _INSTALL_HINT})
    try:
        async with asyncio.timeout(timeout):
            async with create_mcp_http_client(headers=_headers(req.server)) as http, \
                    Client(streamable_http_client(str(url), http_client=http)) as client:
                if req.method == "tools/list":
                    listed = await client.list_tools()
                    return McpResult(tools=[_tool_entry(t) for t in listed.tools])
                result = await client.call_tool(str(req.name), dict(req.arguments or {}))
                text = _text_of(result)
                if getattr(result, "is_error", False) or getattr(result, "isError", False):
                    return McpResult(error={"type": "tool_execution_error", "message": text or "The tool failed."})
                return McpResult(output=text)
    except TimeoutError:
        return McpResult(error={"type": "http_error", "code": 504,
                                "message": f"The MCP server did not answer within {timeout:g}s."})
    except Exception as exc:  # the server is down, answered HTTP errors or broke the protocol
        return McpResult(error=_error_of(exc))


def _error_of(exc: BaseException) -> dict[str, Any]:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return {"type": "http_error", "code": status, "message": f"The MCP server answered HTTP {status}."}
    code = getattr(getattr(exc, "error", None), "code", None)
    if isinstance(code, int):
        return {"type": "protocol_error", "code": code, "message": str(exc)[:300]}
    return {"type": "http_error", "code": 502,
            "message": f"The MCP server could not be reached ({type(exc).__name__})."}
