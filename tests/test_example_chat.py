"""The example chat backend (examples/chat_backend.py) on the live service: each of its users
sees only their own chats, through one API key and X-On-Behalf-Of; and its one command starts
the service and the backend together."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import httpx

from .conftest import BASE_PATH, KEY_A, RunningServer, auth_headers, free_port, serve_asgi

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "chat_backend.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chat_backend", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_user_sees_only_their_own_chats(server: RunningServer, user: str) -> None:
    alice, bob = {"X-User": f"{user}-alice"}, {"X-User": f"{user}-bob"}
    app = _example().create_app(server.url, KEY_A)
    with serve_asgi(app) as url, httpx.Client(base_url=url, timeout=30) as backend:
        chat = backend.post("/chats", headers=alice, json={"title": "Trip"}).json()
        assert chat["title"] == "Trip"
        first = backend.post(f"/chats/{chat['id']}/messages", headers=alice, json={"text": "Hi"})
        assert first.status_code == 200, first.text
        assert first.json()["reply"] == "You said: 'Hi' (message 1 of this chat)"
        second = backend.post(
            f"/chats/{chat['id']}/messages", headers=alice, json={"text": "Lisbon?"}
        )
        assert second.json()["reply"] == "You said: 'Lisbon?' (message 2 of this chat)"
        history = backend.get(f"/chats/{chat['id']}/messages", headers=alice).json()
        assert [(m["role"], m["text"]) for m in history] == [
            ("user", "Hi"),
            ("assistant", first.json()["reply"]),
            ("user", "Lisbon?"),
            ("assistant", second.json()["reply"]),
        ]
        assert [c["id"] for c in backend.get("/chats", headers=alice).json()] == [chat["id"]]

        # Bob, served by the same backend with the same key, sees nothing of Alice's.
        assert backend.get("/chats", headers=bob).json() == []
        for method, path in (("GET", "/messages"), ("POST", "/messages"), ("DELETE", "")):
            body = {"text": "sneaky"} if method == "POST" else None
            answer = backend.request(method, f"/chats/{chat['id']}{path}", headers=bob, json=body)
            assert answer.status_code == 404, (method, path, answer.text)
        assert backend.get("/chats").status_code == 401  # nobody logged in

        # In the service, the chat belongs to (the key's account, alice) and to no one else.
        stored = f"{server.url}{BASE_PATH}/{chat['id']}"
        assert httpx.get(stored, headers=auth_headers(KEY_A, alice["X-User"])).status_code == 200
        assert httpx.get(stored, headers=auth_headers(KEY_A)).status_code == 404
        assert backend.get(f"/chats/{chat['id']}/messages", headers=alice).json() == history

        assert backend.delete(f"/chats/{chat['id']}", headers=alice).json() == {"deleted": True}
        assert backend.get(f"/chats/{chat['id']}/messages", headers=alice).status_code == 404


def test_one_command_runs_service_and_backend(tmp_path: Path) -> None:
    port, service_port = free_port(), free_port()
    env = {"PATH": "/usr/bin:/bin", "MKA1_SERVICE_PORT": str(service_port), "HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if httpx.get(url + "/chats", headers={"X-User": "u"}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the example did not start within 60 s"
            time.sleep(0.2)
        chat = httpx.post(url + "/chats", headers={"X-User": "u"}, json={}).json()
        said = httpx.post(
            f"{url}/chats/{chat['id']}/messages", headers={"X-User": "u"}, json={"text": "hello"}
        )
        assert said.json() == {"reply": "You said: 'hello' (message 1 of this chat)"}
    finally:
        process.terminate()
        process.wait(timeout=30)
    # Stopping the example stops the service it started.
    try:
        httpx.get(f"http://127.0.0.1:{service_port}/healthz", timeout=2)
        raise AssertionError("the service outlived the example")
    except httpx.TransportError:
        pass
