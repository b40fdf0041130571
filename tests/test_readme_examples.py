"""The README's curl examples work as written against `oms serve --seed-if-empty` (the demo data),
and the outputs their `# {...}` comments show are what the demo answers.

`make run` serves the demo on the embedded database, where callers without a credential act as an
admin. The server here runs on the test's MongoDB, so it never allows that: the examples are run
with an ADMIN key made by `oms apikey create` (added to each curl that does not send one).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness import server

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SECTIONS = ("Examples", "Routing policy", "Capture → route → explain", "Returns", "Customer service", "Replenishment", "Live subscriptions")

# Each curl answers on its own line; the key is added unless the example sends one itself.
CURL = """curl() {
  case "$*" in *X-API-Key*) command curl "$@" ;; *) command curl -H "X-API-Key: $OMS_ADMIN_KEY" "$@" ;; esac
  echo
}
"""


def _blocks(section: str) -> list[str]:
    text = README.read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [block for block in re.findall(r"```sh\n(.*?)```", body, re.S) if "curl" in block]


# What an example's `# {...}` comment shows: "key":value pairs and lists of strings (a field path).
# Elided values (`…`) and ids that differ from run to run are left out.
SHOWN = re.compile(r'"\w+":(?:"[^"\n…]*"|-?\d+(?:\.\d+)?|true|false|null)(?=[,}\]])|\[(?:"[^"\n…]*",?)+\]')


def _shown(example: str) -> set[str]:
    return set(SHOWN.findall("\n".join(line for line in example.splitlines() if line.startswith("#"))))


def _admin_key(env: dict[str, str]) -> str:
    created = subprocess.run(
        [sys.executable, "-m", "app.cli", "apikey", "create", "--name", "readme", "--role", "ADMIN"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    return created.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_examples_answer_with_data_and_no_errors(mongodb_uri: str, database_name: str) -> None:
    examples = [(section, block) for section in SECTIONS for block in _blocks(section)]
    assert len(examples) >= 12
    env = {**os.environ, "MONGODB_URI": mongodb_uri, "OMS_DB_NAME": database_name, "OMS_ENV": "development"}
    with server(mongodb_uri, database_name, seed_if_empty=True, env={"OMS_ENV": "development"}) as (base, _):
        env["OMS_ADMIN_KEY"] = _admin_key(env)
        for section, example in examples:
            example = re.sub(r"(?m)^OMS_ADMIN_KEY=oms_\.\.\.$", "", example)  # a placeholder for the key made above
            script = CURL + example.replace("http://127.0.0.1:8000", base).replace("localhost:8000", base)
            completed = subprocess.run(
                ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
            )
            answers = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
            assert answers, (section, example, completed.stderr)
            for body in answers:
                assert "errors" not in body, (section, example, body)
                assert body["data"] and all(value not in (None, [], {}) for value in body["data"].values()), (
                    section, example, body,
                )
            # The outputs the README shows are what the demo answers (e.g. a cancelled order's allocations RELEASED).
            assert {shown for shown in _shown(example) if shown not in completed.stdout} == set(), (section, example)
