"""Example items of all 24 MKA1 item types: a full one (every optional field set) and a minimal one.

Keyed by the table's titles (``ItemType.title``). Besides the examples: the SDK model each type
parses into, the nine computer actions and the three web-search actions, and which examples the
OpenAI SDK cannot parse in strict mode (with the reason: the MKA1 shape differs from OpenAI's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "COMPUTER_ACTIONS",
    "EXAMPLES",
    "OPENAI_UNPARSEABLE",
    "WEB_SEARCH_ACTIONS",
    "Example",
]

Json = dict[str, Any]


@dataclass(frozen=True)
class Example:
    title: str
    """The item table's title of the type."""
    full: Json
    minimal: Json
    mka1_model: str
    """The MKA1 SDK response model (class name suffix: input messages are inline models)."""
    openai_model: str | None
    """The OpenAI SDK ``ConversationItem`` member, or None when OpenAI has no such type."""

    def variant(self, name: str) -> Json:
        example: Json = getattr(self, name)
        return example


_OUTPUT_TEXT_FULL: Json = {
    "type": "output_text",
    "text": "Paris is the capital of France.",
    "annotations": [
        {"type": "file_citation", "file_id": "file_1", "filename": "atlas.pdf", "index": 3},
        {
            "type": "url_citation",
            "start_index": 0,
            "end_index": 5,
            "title": "Paris",
            "url": "https://en.wikipedia.org/wiki/Paris",
        },
        {
            "type": "container_file_citation",
            "container_id": "cntr_1",
            "file_id": "file_2",
            "filename": "notes.txt",
            "start_index": 6,
            "end_index": 8,
        },
        {"type": "file_path", "file_id": "file_3", "index": 1},
    ],
    "logprobs": [
        {
            "token": "Paris",
            "logprob": -0.25,
            "bytes": [80, 97, 114, 105, 115],
            "top_logprobs": [{"token": "Paris", "logprob": -0.25, "bytes": [80]}],
        }
    ],
}

_EXAMPLES: tuple[Example, ...] = (
    Example(
        "Input message",
        full={
            "type": "message",
            "id": "msg_input_full",
            "status": "completed",
            "role": "user",
            "content": [
                "A bare string part.",
                {"type": "input_text", "text": "What is in this image?"},
                {
                    "type": "input_image",
                    "detail": "high",
                    "image_url": "https://example.com/cat.png",
                },
                {"type": "input_file", "filename": "report.pdf", "file_url": "https://x.y/r.pdf"},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                {"type": "output_text", "text": "An earlier answer, quoted."},
                {"type": "refusal", "refusal": "An earlier refusal, quoted."},
            ],
        },
        minimal={"role": "user", "content": "Hello!"},
        mka1_model="InputMessageItem",
        openai_model="Message",
    ),
    Example(
        "Output message",
        full={
            "type": "message",
            "id": "msg_output_full",
            "status": "completed",
            "role": "assistant",
            "phase": "final_answer",
            "content": [_OUTPUT_TEXT_FULL, {"type": "refusal", "refusal": "I can't say more."}],
        },
        minimal={
            "type": "message",
            "id": "msg_output_min",
            "status": "in_progress",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hi"}],
        },
        mka1_model="OutputMessageWithID",
        openai_model="Message",
    ),
    Example(
        "Output audio",
        full={
            "type": "output_audio",
            "id": "oa_full",
            "status": "completed",
            "data": "UklGRiQAAABXQVZFZm10IBAAAAABAAEA",
            "transcript": "Hello there, general listener.",
        },
        minimal={
            "type": "output_audio",
            "id": "oa_min",
            "status": "incomplete",
            "data": "",
            "transcript": "",
        },
        mka1_model="OutputAudioItemWithID",
        openai_model=None,
    ),
    Example(
        "File search call",
        full={
            "type": "file_search_call",
            "id": "fs_full",
            "status": "completed",
            "queries": ["quarterly revenue", "EMEA"],
            "results": [
                {
                    "attributes": {"region": "emea", "public": True, "year": 2024.5},
                    "file_id": "file_9",
                    "filename": "q3.pdf",
                    "score": 0.87,
                    "text": "Revenue grew 12%.",
                }
            ],
        },
        minimal={"type": "file_search_call", "id": "fs_min", "status": "searching", "queries": []},
        mka1_model="FileSearchToolCallWithID",
        openai_model="ResponseFileSearchToolCall",
    ),
    Example(
        "Computer call",
        full={
            "type": "computer_call",
            "id": "cu_full",
            "call_id": "call_cu_1",
            "status": "completed",
            "action": {"type": "click", "button": "left", "x": 10, "y": 20},
            "pending_safety_checks": [
                {"id": "sc_1", "code": "malicious_instructions", "message": "Careful."}
            ],
        },
        minimal={
            "type": "computer_call",
            "id": "cu_min",
            "call_id": "call_cu_2",
            "status": "in_progress",
            "action": {"type": "screenshot"},
            "pending_safety_checks": [],
        },
        mka1_model="ComputerToolCallWithID",
        openai_model="ResponseComputerToolCall",
    ),
    Example(
        "Computer call output",
        full={
            "type": "computer_call_output",
            "id": "cuo_full",
            "status": "completed",
            "call_id": "call_cu_1",
            "output": {
                "type": "computer_screenshot",
                "file_id": "file_shot",
                "image_url": "https://example.com/shot.png",
            },
            "acknowledged_safety_checks": [
                {"id": "sc_1", "code": "malicious_instructions", "message": "Careful."}
            ],
        },
        minimal={
            "type": "computer_call_output",
            "call_id": "call_cu_2",
            "output": {"type": "computer_screenshot"},
        },
        mka1_model="ComputerToolCallOutputWithID",
        openai_model="ResponseComputerToolCallOutputItem",
    ),
    Example(
        "Web search call",
        full={
            "type": "web_search_call",
            "id": "ws_full",
            "status": "completed",
            "action": {
                "type": "search",
                "query": "weather in Paris",
                "sources": [{"type": "url", "url": "https://weather.example.com/paris"}],
            },
        },
        minimal={
            "type": "web_search_call",
            "id": "ws_min",
            "status": "searching",
            "action": {"type": "open_page", "url": "https://example.com"},
        },
        mka1_model="WebSearchToolCallWithID",
        openai_model="ResponseFunctionWebSearch",
    ),
    Example(
        "Function call",
        full={
            "type": "function_call",
            "id": "fc_full",
            "status": "completed",
            "call_id": "call_fn_1",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
        },
        minimal={
            "type": "function_call",
            "call_id": "call_fn_2",
            "name": "get_time",
            "arguments": "{}",
        },
        mka1_model="FunctionToolCallWithID",
        openai_model="ResponseFunctionToolCallItem",
    ),
    Example(
        "Function call output",
        full={
            "type": "function_call_output",
            "id": "fco_full",
            "status": "completed",
            "call_id": "call_fn_1",
            "output": '{"temperature_c": 21}',
        },
        minimal={"type": "function_call_output", "call_id": "call_fn_2", "output": "12:00"},
        mka1_model="FunctionToolCallOutputWithID",
        openai_model="ResponseFunctionToolCallOutputItem",
    ),
    Example(
        "Reasoning",
        full={
            "type": "reasoning",
            "id": "rs_full",
            "status": "completed",
            "summary": [{"type": "summary_text", "text": "Compared the two options."}],
            "content": [{"type": "reasoning_text", "text": "Option A is cheaper, so..."}],
            "encrypted_content": "gAAAAABencrypted",
        },
        minimal={"type": "reasoning", "id": "rs_min", "summary": []},
        mka1_model="ReasoningWithID",
        openai_model="ResponseReasoningItem",
    ),
    Example(
        "Image generation call",
        full={
            "type": "image_generation_call",
            "id": "ig_full",
            "status": "completed",
            "result": "https://example.com/generated.png",
            "background": "transparent",
            "output_format": "png",
            "quality": "high",
            "size": "1024x1024",
            "revised_prompt": "A watercolor lighthouse at dawn",
        },
        minimal={
            "type": "image_generation_call",
            "id": "ig_min",
            "status": "generating",
            "result": "",
        },
        mka1_model="ImageGenerationCallWithID",
        openai_model="ImageGenerationCall",
    ),
    Example(
        "Code interpreter call",
        full={
            "type": "code_interpreter_call",
            "id": "ci_full",
            "status": "completed",
            "code": "print(6 * 7)",
            "container_id": "cntr_1",
            "outputs": [
                {"type": "logs", "logs": "42\n"},
                {"type": "image", "url": "https://example.com/plot.png"},
            ],
        },
        minimal={
            "type": "code_interpreter_call",
            "id": "ci_min",
            "status": "interpreting",
            "code": None,
            "container_id": "cntr_2",
            "outputs": None,
        },
        mka1_model="CodeInterpreterToolCallWithID",
        openai_model="ResponseCodeInterpreterToolCall",
    ),
    Example(
        "Local shell call",
        full={
            "type": "local_shell_call",
            "id": "lsh_full",
            "call_id": "call_lsh_1",
            "status": "completed",
            "action": {
                "type": "exec",
                "command": ["ls", "-la"],
                "env": {"LANG": "C"},
                "timeout_ms": 5000,
                "user": "runner",
                "working_directory": "/tmp",
            },
        },
        minimal={
            "type": "local_shell_call",
            "id": "lsh_min",
            "call_id": "call_lsh_2",
            "status": "in_progress",
            "action": {"type": "exec", "command": ["pwd"], "env": {}},
        },
        mka1_model="LocalShellCallWithID",
        openai_model="LocalShellCall",
    ),
    Example(
        "Local shell call output",
        full={
            "type": "local_shell_call_output",
            "id": "lsho_full",
            "status": "completed",
            "output": "total 0\ndrwxr-xr-x 2 runner runner 40 .",
        },
        minimal={"type": "local_shell_call_output", "id": "lsho_min", "output": "/tmp"},
        mka1_model="LocalShellCallOutputWithID",
        openai_model="LocalShellCallOutput",
    ),
    Example(
        "Shell call",
        full={
            "type": "shell_call",
            "id": "sh_full",
            "call_id": "call_sh_1",
            "status": "completed",
            "action": {
                "type": "exec",
                "command": "grep -r TODO src",
                "timeout_ms": 10000,
                "max_output_length": 4096,
            },
        },
        minimal={
            "type": "shell_call",
            "id": "sh_min",
            "call_id": "call_sh_2",
            "status": "in_progress",
            "action": {"type": "exec"},
        },
        mka1_model="ShellCallWithID",
        openai_model="ResponseFunctionShellToolCall",
    ),
    Example(
        "Shell call output",
        full={
            "type": "shell_call_output",
            "id": "sho_full",
            "call_id": "call_sh_1",
            "status": "completed",
            "output": {
                "stdout": "src/app.py: # TODO tidy",
                "stderr": "grep: warning",
                "outcome": {"type": "exit", "exit_code": 0},
            },
        },
        minimal={
            "type": "shell_call_output",
            "id": "sho_min",
            "call_id": "call_sh_2",
            "output": {
                "stdout": "",
                "stderr": "",
                "outcome": {"type": "timeout", "exit_code": None},
            },
        },
        mka1_model="ShellCallOutputWithID",
        openai_model="ResponseFunctionShellToolCallOutput",
    ),
    Example(
        "MCP list tools",
        full={
            "type": "mcp_list_tools",
            "id": "mcpl_full",
            "server_label": "deepwiki",
            "tools": [
                {
                    "name": "ask_question",
                    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
                    "annotations": {"readOnlyHint": True},
                    "description": "Ask a question about a repository.",
                }
            ],
            "error": "one tool could not be listed",
        },
        minimal={"type": "mcp_list_tools", "id": "mcpl_min", "server_label": "empty", "tools": []},
        mka1_model="MCPListToolsWithID",
        openai_model="McpListTools",
    ),
    Example(
        "MCP approval request",
        full={
            "type": "mcp_approval_request",
            "id": "mcpr_full",
            "server_label": "deepwiki",
            "name": "ask_question",
            "arguments": '{"q": "What is MKA1?"}',
        },
        minimal={
            "type": "mcp_approval_request",
            "id": "mcpr_min",
            "server_label": "s",
            "name": "n",
            "arguments": "{}",
        },
        mka1_model="MCPApprovalRequestWithID",
        openai_model="McpApprovalRequest",
    ),
    Example(
        "MCP approval response",
        full={
            "type": "mcp_approval_response",
            "id": "mcpa_full",
            "approval_request_id": "mcpr_full",
            "approve": False,
            "reason": "Not on a Friday.",
        },
        minimal={
            "type": "mcp_approval_response",
            "approval_request_id": "mcpr_min",
            "approve": True,
        },
        mka1_model="MCPApprovalResponseWithID",
        openai_model="McpApprovalResponse",
    ),
    Example(
        "MCP call",
        full={
            "type": "mcp_call",
            "id": "mcp_full",
            "server_label": "deepwiki",
            "name": "ask_question",
            "arguments": '{"q": "What is MKA1?"}',
            "approval_request_id": "mcpr_full",
            "output": "An API platform.",
            "error": "partial answer",
        },
        minimal={
            "type": "mcp_call",
            "id": "mcp_min",
            "server_label": "s",
            "name": "n",
            "arguments": "{}",
        },
        mka1_model="MCPToolCallWithID",
        openai_model="McpCall",
    ),
    Example(
        "Custom tool call",
        full={
            "type": "custom_tool_call",
            "id": "ctc_full",
            "call_id": "call_ctc_1",
            "name": "run_sql",
            "input": "SELECT 1",
        },
        minimal={
            "type": "custom_tool_call",
            "call_id": "call_ctc_2",
            "name": "echo",
            "input": "",
        },
        mka1_model="CustomToolCallWithID",
        openai_model="ResponseCustomToolCall",
    ),
    Example(
        "Custom tool call output",
        full={
            "type": "custom_tool_call_output",
            "id": "ctco_full",
            "call_id": "call_ctc_1",
            "output": "1 row",
        },
        minimal={"type": "custom_tool_call_output", "call_id": "call_ctc_2", "output": ""},
        mka1_model="CustomToolCallOutputWithID",
        openai_model="ResponseCustomToolCallOutput",
    ),
    Example(
        "Item reference",
        full={"type": "item_reference", "id": "msg_referenced_full"},
        minimal={"id": "msg_referenced_min"},
        mka1_model="ItemReferenceWithID",
        openai_model=None,
    ),
    Example(
        "Compaction",
        full={
            "type": "compaction",
            "id": "cmp_full",
            "content": "The user planned a trip to Paris; flights are booked.",
            "encrypted_content": "gAAAAABcompacted",
            "created_by": "mka1-large",
        },
        minimal={"type": "compaction", "id": "cmp_min", "content": "Earlier: greetings."},
        mka1_model="ResponseCompactionItemWithID",
        openai_model="ResponseCompactionItem",
    ),
)

EXAMPLES: dict[str, Example] = {e.title: e for e in _EXAMPLES}

COMPUTER_ACTIONS: dict[str, Json] = {
    "ClickAction": {"type": "click", "button": "right", "x": 1, "y": 2},
    "DoubleClickAction": {"type": "double_click", "x": 3, "y": 4},
    "DragAction": {"type": "drag", "path": [{"x": 0, "y": 0}, {"x": 5, "y": 6}]},
    "KeyPressAction": {"type": "keypress", "keys": ["CTRL", "C"]},
    "MoveAction": {"type": "move", "x": 7, "y": 8},
    "ScreenshotAction": {"type": "screenshot"},
    "ScrollAction": {"type": "scroll", "scroll_x": 0, "scroll_y": -120, "x": 9, "y": 10},
    "TypeAction": {"type": "type", "text": "hello"},
    "WaitAction": {"type": "wait"},
}
"""The nine computer actions, keyed by the MKA1 SDK model each parses into."""

WEB_SEARCH_ACTIONS: dict[str, Json] = {
    "SearchAction": {"type": "search", "query": "mka1 conversations"},
    "OpenPageAction": {"type": "open_page", "url": "https://docs.mka1.com"},
    "FindAction": {"type": "find", "pattern": "Conversations", "url": "https://docs.mka1.com"},
}
"""The three web-search actions, keyed by the MKA1 SDK model each parses into."""

OPENAI_UNPARSEABLE: dict[tuple[str, str], str] = {
    ("Input message", "full"): "OpenAI's Message content has no `input_audio` part",
    ("Output message", "minimal"): "OpenAI requires `annotations` on `output_text` parts",
    ("Output audio", "full"): "OpenAI has no `output_audio` item",
    ("Output audio", "minimal"): "OpenAI has no `output_audio` item",
    ("Shell call", "full"): "OpenAI's shell_call action has `commands` (array), MKA1 `command`",
    ("Shell call", "minimal"): "OpenAI's shell_call action requires `commands`",
    ("Shell call output", "full"): "OpenAI's shell_call_output `output` is an array",
    ("Shell call output", "minimal"): "OpenAI's shell_call_output `output` is an array",
    ("MCP call", "full"): "OpenAI's mcp_call `error` is an object, MKA1's a string",
    ("Item reference", "full"): "OpenAI never returns `item_reference` items",
    ("Item reference", "minimal"): "OpenAI never returns `item_reference` items",
    ("Compaction", "minimal"): "OpenAI requires `encrypted_content` on compaction items",
}
"""(title, "full"|"minimal") → why the OpenAI SDK (strict response validation) cannot parse
that example: the MKA1 shape differs from OpenAI's (found by running; pinned by a test)."""
