"""The reference pages generated from code stay current: the configuration reference from the
Settings object and the command line, the API reference from the OpenAPI document; and every
page of the docs is linked from the README or the docs index."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from mka1_conversations.http.openapi import build_document
from mka1_conversations.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("script", "page"),
    [("settings_doc", "configuration.md"), ("api_reference_doc", "api-reference.md")],
)
def test_generated_page_is_current(script: str, page: str) -> None:
    committed = (ROOT / "docs" / page).read_text(encoding="utf-8")
    assert committed == _script(script).render(), f"docs/{page} is stale: run scripts/{script}.py"


def test_configuration_reference_names_every_setting() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for field in dataclasses.fields(Settings):
        assert f"| `{field.metadata['env']}` |" in page


def test_api_reference_names_every_operation() -> None:
    page = (ROOT / "docs" / "api-reference.md").read_text(encoding="utf-8")
    for path, operations in build_document()["paths"].items():
        for method, op in operations.items():
            assert f"`{method.upper()} {path}` (`{op['operationId']}`)" in page


def test_every_docs_page_is_linked_and_every_link_resolves() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name != "index.md":
            assert f"({page.name})" in index, f"docs/index.md does not link {page.name}"
    assert "(docs/index.md)" in readme
    for source in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = source.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", text):
            assert (source.parent / target).exists(), f"{source.name} links missing {target}"
