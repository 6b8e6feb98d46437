"""The Dockerfile and docs/deploy.md agree with the code: the entry point is the console script,
every command and option they pass is one the CLI accepts, every variable they set is a setting,
the health check asks a real endpoint on the served port, and the image runs as non-root. (The
image cannot be built here; these are the checks that catch it drifting from the code.)"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import yaml

from mka1_conversations.cli import build_parser
from mka1_conversations.http.operational import OperationalRoutes
from mka1_conversations.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {f.metadata["env"] for f in dataclasses.fields(Settings)}
#: Variables of the runtime rather than ours.
RUNTIME = {"PYTHONUNBUFFERED", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def _one(keyword: str) -> str:
    found = [rest for k, rest in _instructions() if k == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {found}"
    return found[0]


def _console_script() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    scripts: dict[str, str] = project["project"]["scripts"]
    assert scripts == {"mka1-conversations": "mka1_conversations.cli:main"}
    return next(iter(scripts))


def _accepted(argv: list[str]) -> Any:
    """Parse as the CLI would; SystemExit (argparse's refusal) fails the test."""
    return build_parser().parse_args(argv)


def test_dockerfile_entry_point_and_command_are_the_cli() -> None:
    assert json.loads(_one("ENTRYPOINT")) == [_console_script()]
    command = json.loads(_one("CMD"))
    args = _accepted(command)
    assert args.command == "serve" and args.host == "0.0.0.0"  # reachable from outside
    assert _one("EXPOSE") == str(args.port)


def test_dockerfile_settings_health_check_and_user() -> None:
    env_line = _one("ENV")
    names = re.findall(r"(\w+)=", env_line)
    assert names and set(names) <= SETTINGS | RUNTIME, set(names) - SETTINGS - RUNTIME
    assert "MKA1_DATABASE_URL=sqlite:////var/lib/mka1/data/mka1.db" in env_line
    assert "/var/lib/mka1/data" in _one("VOLUME")
    Settings.from_env(dict(re.findall(r"(\w+)=(\S+)", env_line)))  # valid values

    port = _accepted(json.loads(_one("CMD"))).port
    check = _one("HEALTHCHECK")
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", check)
    assert url is not None, check
    assert int(url[1]) == port and url[2] == "/readyz" and url[2] in OperationalRoutes.PATHS

    user = _one("USER")
    assert user not in ("root", "0")
    assert f"useradd --system --uid 10001 --create-home --home-dir /var/lib/mka1 {user}" in (
        " ".join(rest for k, rest in _instructions() if k == "RUN")
    )
    bases = [rest for k, rest in _instructions() if k == "FROM"]
    assert all(b.startswith("python:3.11-slim") for b in bases)
    for k, rest in _instructions():
        if k == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), source


def _deploy_blocks(language: str) -> list[str]:
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def test_compose_example_runs_the_cli_on_postgres_with_several_workers() -> None:
    (block,) = _deploy_blocks("yaml")
    compose = yaml.safe_load(block)
    services = compose["services"]
    database = services["postgres"]["environment"]
    ours = {n: s for n, s in services.items() if s.get("image") == "mka1-conversations"}
    assert set(ours) == {"migrate", "api"}
    for name, service in ours.items():
        env = {k: str(v) for k, v in service["environment"].items()}
        assert set(env) <= SETTINGS, (name, set(env) - SETTINGS)
        settings = Settings.from_env(env)
        assert settings.database_kind == "postgresql"
        assert settings.database_url == (
            f"postgresql://{database['POSTGRES_USER']}:{database['POSTGRES_PASSWORD']}"
            f"@postgres:5432/{database['POSTGRES_DB']}"
        )
        _accepted(service["command"])
    assert _accepted(ours["migrate"]["command"]).command == "migrate"
    api = _accepted(ours["api"]["command"])
    assert api.command == "serve" and api.workers > 1 and api.host == "0.0.0.0"
    assert services["api"]["ports"] == [f"{api.port}:{api.port}"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_docker_commands_in_the_docs_are_cli_commands() -> None:
    commands = 0
    for block in _deploy_blocks("sh"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words[:2] != ["docker", "run"]:
                continue
            image = words.index("mka1-conversations")
            env = [words[i + 1] for i, w in enumerate(words[:image]) if w == "-e"]
            assert {e.split("=", 1)[0] for e in env} <= SETTINGS
            argv = words[image + 1 :] or json.loads(_one("CMD"))
            _accepted(argv)
            commands += 1
    assert commands >= 2
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for name in set(re.findall(r"\bMKA1_[A-Z_]+\b", text)):
        assert name in SETTINGS, f"docs/deploy.md names {name}, which is no setting"
