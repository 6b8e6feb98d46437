"""The OpenAI Agents SDK (PyPI ``openai-agents``) keeps its session memory in this service:
``OpenAIConversationsSession`` with an OpenAI client pointed at our base URL behaves as it does
against OpenAI (add, read all or the latest N in order, pop the latest, clear), and a
``Runner`` run with it stores each turn and reads the history back, on MKA1's face
(``/api/v1/llm``) and on OpenAI's (``/v1``). The model is a local stand-in: no test calls OpenAI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from agents import Agent, ModelSettings, RunConfig, Runner, Tool
from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import ModelResponse, TResponseInputItem, TResponseStreamEvent
from agents.memory import OpenAIConversationsSession
from agents.models.interface import Model, ModelTracing
from agents.usage import Usage
from openai import AsyncOpenAI
from openai.types.responses import ResponseOutputMessage, ResponseOutputText
from openai.types.responses.response_prompt_param import ResponsePromptParam

from .conftest import BASE_PATH, KEY_A, RunningServer, auth_headers


@pytest.fixture
async def client(server: RunningServer, user: str) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(
        base_url=server.url + "/api/v1/llm",
        api_key=KEY_A,
        default_headers={"X-On-Behalf-Of": user},
        _strict_response_validation=True,
    ) as openai_client:
        yield openai_client


def _user(text: str) -> TResponseInputItem:
    return {"role": "user", "content": text}


def _texts(items: list[TResponseInputItem]) -> list[str]:
    out = []
    for item in items:
        content: Any = item.get("content") or [{"text": item.get("output", "")}]
        out.append(content if isinstance(content, str) else content[0]["text"])
    return out


async def test_session_add_get_pop_clear(
    server: RunningServer, client: AsyncOpenAI, user: str
) -> None:
    session = OpenAIConversationsSession(openai_client=client)
    assert await session.get_items() == []  # creates the conversation lazily
    conversation_id = session.session_id
    assert conversation_id.startswith("conv_")

    turn: list[TResponseInputItem] = [
        _user("What is the weather in Paris?"),
        {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "Sunny"},
        {
            "type": "message",
            "role": "assistant",
            "id": "msg_answer_1",
            "status": "completed",
            "content": [{"type": "output_text", "text": "It is sunny.", "annotations": []}],
        },
    ]
    await session.add_items(turn)
    items = await session.get_items()
    assert [i["type"] for i in items] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert items[0]["content"] == [  # type: ignore[typeddict-item]
        {"type": "input_text", "text": "What is the weather in Paris?"}
    ]
    assert items[3]["id"] == "msg_answer_1"  # type: ignore[typeddict-item]
    assert _texts(await session.get_items(limit=2)) == ["Sunny", "It is sunny."]

    # More than one page and more than one create request (the session sends 20 at a time).
    await session.add_items([_user(f"m{n}") for n in range(25)])
    everything = await session.get_items()
    assert len(everything) == 29
    assert _texts(everything)[4:] == [f"m{n}" for n in range(25)]
    assert _texts(await session.get_items(limit=3)) == ["m22", "m23", "m24"]

    popped = await session.pop_item()
    assert popped is not None and _texts([popped]) == ["m24"]
    assert _texts(await session.get_items(limit=1)) == ["m23"]
    assert len(await session.get_items()) == 28

    await session.clear_session()
    async with httpx.AsyncClient(headers=auth_headers(KEY_A, user)) as http:
        gone = await http.get(f"{server.url}{BASE_PATH}/{conversation_id}")
    assert gone.status_code == 404
    assert await session.get_items() == []  # a new, empty conversation
    assert session.session_id != conversation_id
    assert await session.pop_item() is None


async def test_session_reopened_by_id_sees_the_same_history(client: AsyncOpenAI) -> None:
    first = OpenAIConversationsSession(openai_client=client)
    await first.add_items([_user("remember me")])
    again = OpenAIConversationsSession(conversation_id=first.session_id, openai_client=client)
    assert _texts(await again.get_items()) == ["remember me"]


class EchoModel(Model):
    """A model that answers ``echo: <last user text>`` and remembers every input it was given."""

    def __init__(self) -> None:
        self.inputs: list[list[TResponseInputItem]] = []

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        items = [_user(input)] if isinstance(input, str) else list(input)
        self.inputs.append(items)
        text = "echo: " + _texts([items[-1]])[0]
        message = ResponseOutputMessage(
            id=f"msg_echo_{len(self.inputs)}",
            type="message",
            role="assistant",
            status="completed",
            content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
        )
        return ModelResponse(output=[message], usage=Usage(), response_id=None)

    def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        raise NotImplementedError


async def test_runner_keeps_its_memory_here(client: AsyncOpenAI) -> None:
    model = EchoModel()
    agent = Agent(name="echo", instructions="Repeat the user.", model=model)
    session = OpenAIConversationsSession(openai_client=client)
    config = RunConfig(tracing_disabled=True)
    first = await Runner.run(agent, "hello", session=session, run_config=config)
    assert first.final_output == "echo: hello"
    second = await Runner.run(agent, "again", session=session, run_config=config)
    assert second.final_output == "echo: again"
    # The second turn's model input is the history read back from the service, then the new input.
    assert _texts(model.inputs[1]) == ["hello", "echo: hello", "again"]
    assert _texts(await session.get_items()) == ["hello", "echo: hello", "again", "echo: again"]


@pytest.fixture
async def v1_client(server: RunningServer, user: str) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(
        base_url=server.url + "/v1",
        api_key=KEY_A,
        default_headers={"X-On-Behalf-Of": user},
        _strict_response_validation=True,
    ) as openai_client:
        yield openai_client


async def test_session_on_the_openai_face(
    server: RunningServer, v1_client: AsyncOpenAI, user: str
) -> None:
    session = OpenAIConversationsSession(openai_client=v1_client)
    await session.add_items([_user(f"m{n}") for n in range(25)])  # two create requests
    assert _texts(await session.get_items()) == [f"m{n}" for n in range(25)]
    assert _texts(await session.get_items(limit=3)) == ["m22", "m23", "m24"]
    popped = await session.pop_item()
    assert popped is not None and _texts([popped]) == ["m24"]
    assert len(await session.get_items()) == 24
    conversation_id = session.session_id
    async with httpx.AsyncClient(headers=auth_headers(KEY_A, user)) as http:
        # The same conversation on MKA1's face.
        mka1 = await http.get(f"{server.url}{BASE_PATH}/{conversation_id}/items?limit=1")
        assert mka1.json()["data"][0]["content"][0]["text"] == "m0"
        await session.clear_session()
        gone = await http.get(f"{server.url}{BASE_PATH}/{conversation_id}")
    assert gone.status_code == 404
    assert await session.get_items() == []


async def test_runner_keeps_its_memory_on_the_openai_face(v1_client: AsyncOpenAI) -> None:
    model = EchoModel()
    agent = Agent(name="echo", instructions="Repeat the user.", model=model)
    session = OpenAIConversationsSession(openai_client=v1_client)
    config = RunConfig(tracing_disabled=True)
    await Runner.run(agent, "hello", session=session, run_config=config)
    second = await Runner.run(agent, "again", session=session, run_config=config)
    assert second.final_output == "echo: again"
    assert _texts(model.inputs[1]) == ["hello", "echo: hello", "again"]
