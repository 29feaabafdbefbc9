# Remote MCP tools (`{"type": "mcp", ...}` session tools), the protocol side (no I/O): which
# listed tool a call goes to, `allowed_tools` and `require_approval` filters, and the item shapes
# of `mcp_list_tools`, `mcp_call` and `mcp_approval_request`. The shell does the MCP requests
# (`actions.McpRequest`). Flow [INF where the reference is silent, see docs/emulator.md]:
#   session.update with an mcp tool → conversation.item.added (mcp_list_tools, tools []) →
#   mcp_list_tools.in_progress → (tools/list) → mcp_list_tools.completed | .failed →
#   conversation.item.done (the listed tools);
#   a response whose reply calls a listed tool → mcp_call item: output_item.added,
#   conversation.item.added, response.mcp_call_arguments.delta/.done, response.mcp_call.in_progress,
#   (tools/call), response.mcp_call.completed | .failed, output_item.done, conversation.item.done,
#   then a follow-up message in the same response; with approval required instead an
#   mcp_approval_request item ends the response, and after the client's mcp_approval_response item
#   the next response.create runs the approved call (or says it was not approved).
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """An MCP tool call a response will make (or ask approval for)."""

    server: dict[str, Any]
    name: str
    arguments: str
    needs_approval: bool
    approval_request_id: str | None = None

    @property
    def server_label(self) -> str:
        return str(self.server.get("server_label", ""))


def _names(filter_: Any) -> set[str] | None:
    """Tool names a filter names (a list, or `{"tool_names": [...]}`); None = no filter."""
    if filter_ is None:
        return None
    if isinstance(filter_, list):
        return {str(n) for n in filter_}
    if isinstance(filter_, Mapping) and isinstance(filter_.get("tool_names"), list):
        return {str(n) for n in filter_["tool_names"]}
    return None


def allowed(server: Mapping[str, Any], name: str) -> bool:
    names = _names(server.get("allowed_tools"))
    return names is None or name in names


def needs_approval(server: Mapping[str, Any], name: str) -> bool:
    """`require_approval`: "never", "always" or `{"always": {tool_names}, "never": {tool_names}}`;
    absent/null means "always" (as in the Responses API) [INF]."""
    rule = server.get("require_approval")
    if rule == "never":
        return False
    if isinstance(rule, Mapping):
        never = _names(rule.get("never"))
        always = _names(rule.get("always"))
        if always is not None and name in always:
            return True
        if never is not None and name in never:
            return False
    return True


def find_server(tools: Sequence[Mapping[str, Any]], listed: Mapping[str, list[dict[str, Any]]],
                name: str, server_label: str | None = None) -> dict[str, Any] | None:
    """The mcp tool config among `tools` whose listed tools include `name` (and is allowed)."""
    for tool in tools:
        if tool.get("type") != "mcp":
            continue
        label = str(tool.get("server_label", ""))
        if server_label is not None and label != server_label:
            continue
        if any(t.get("name") == name for t in listed.get(label, ())) and allowed(tool, name):
            return dict(tool)
    return None


def list_tools_item(item_id: str, server_label: str, tools: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": item_id, "type": "mcp_list_tools", "server_label": server_label, "tools": tools}


def call_item(item_id: str, call: PlannedCall) -> dict[str, Any]:
    return {"id": item_id, "type": "mcp_call", "server_label": call.server_label, "name": call.name,
            "arguments": "", "approval_request_id": call.approval_request_id, "output": None, "error": None}


def approval_request_item(item_id: str, call: PlannedCall) -> dict[str, Any]:
    return {"id": item_id, "type": "mcp_approval_request", "server_label": call.server_label,
            "name": call.name, "arguments": call.arguments}
