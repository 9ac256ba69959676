"""What a user's ``mypy --strict`` says about code written against Water.

The files in ``user/`` are checked as a user's project would be: from another
directory, with Water found through the installed package (``pip install -e .``
included), not through this checkout. Each line that must be an error ends with
``# E: <part of the message>``; every other line must check cleanly (including
the ``assert_type`` lines, which fail when a type is not the one expected).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mypy import api

USER = Path(__file__).parent / "user"
FILES = sorted(USER.glob("*.py"))
MARK = re.compile(r"#\s*E:\s*(?P<text>.+?)\s*(?:\[(?P<code>[a-z-]+)\])?\s*$")
REPORTED = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: (?P<message>.*)$")


def expected_errors() -> dict[tuple[str, int], tuple[str, str | None]]:
    """``# E: <part of the message> [code]`` by (file, line); the code is optional."""
    expected = {}
    for path in FILES:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            found = MARK.search(line)
            if found:
                expected[(path.name, number)] = (found["text"], found["code"])
    return expected


def matches(message: str, text: str, code: str | None) -> bool:
    return text in message and (code is None or message.endswith(f"[{code}]"))


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], list[str]]:
    """mypy --strict over the user files, run from outside the checkout."""
    elsewhere = tmp_path_factory.mktemp("user-project")
    config = elsewhere / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(elsewhere)  # mypy also searches the current directory: not this checkout
        out, err, _ = api.run(
            [
                "--config-file",
                str(config),
                "--cache-dir",
                str(elsewhere / ".mypy_cache"),
                "--no-error-summary",
                "--hide-error-context",
                "--no-pretty",
                "--show-error-codes",
                *map(str, FILES),
            ]
        )
    assert not err, err
    errors: dict[tuple[str, int], list[str]] = {}
    for line in out.splitlines():
        found = REPORTED.match(line)
        if found:
            key = (Path(found["path"]).name, int(found["line"]))
            errors.setdefault(key, []).append(found["message"])
    return errors


def test_user_files_exist() -> None:
    assert {p.name for p in FILES} >= {"user_tasks.py", "user_workflows.py", "user_engine.py"}


def test_water_is_found_through_the_installed_package(reported):
    missing = [
        f"{path}:{line}: {m}"
        for (path, line), messages in reported.items()
        for m in messages
        if "import-not-found" in m or "untyped-decorator" in m or "import-untyped" in m
    ]
    assert not missing, "mypy cannot see Water's types:\n" + "\n".join(missing)


def test_expected_errors_and_only_those(reported):
    expected = expected_errors()
    problems = []
    for key, (text, code) in sorted(expected.items()):
        messages = reported.get(key, [])
        if not any(matches(m, text, code) for m in messages):
            wanted = text if code is None else f"{text} [{code}]"
            problems.append(f"{key[0]}:{key[1]}: expected an error {wanted!r}, got {messages}")
    for key, messages in sorted(reported.items()):
        if key not in expected:
            problems.extend(f"{key[0]}:{key[1]}: unexpected error: {m}" for m in messages)
    assert not problems, "\n".join(problems)
