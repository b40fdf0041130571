"""The README's curl examples work as written against `oms serve --seed-if-empty` (the demo data)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.harness import server

README = Path(__file__).resolve().parent.parent / "README.md"


def _examples() -> list[str]:
    text = README.read_text()
    section = text.split("## Examples", 1)[1].split("\n## ", 1)[0]
    return [block for block in re.findall(r"```sh\n(.*?)```", section, re.S) if "curl" in block]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_examples_answer_with_data_and_no_errors(mongodb_uri: str, database_name: str) -> None:
    examples = _examples()
    assert len(examples) >= 5
    with server(mongodb_uri, database_name, seed_if_empty=True, env={"OMS_ENV": "development"}) as (base, _):
        for example in examples:
            command = example.replace("http://127.0.0.1:8000", base)
            completed = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=30, check=False)
            body = json.loads(completed.stdout)
            assert "errors" not in body, (example, body)
            assert body["data"] and all(value not in (None, []) for value in body["data"].values()), (example, body)
