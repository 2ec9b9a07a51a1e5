"""The runner image's Dockerfile, checked without a Docker engine (none here).

What can be checked honestly: the instructions parse; the runner stage is python:3.12-slim,
runs `gameday` as a non-root user and bakes in no secret; every COPY source exists and is
not cut by .dockerignore; the build context the wheel stage copies really builds the
package (pip, as `pip wheel .` in the image does); the experiments copied in find their
locustfiles inside the image; and the schedule's container override, appended to the
image's entrypoint, is `gameday run <plan>` with a plan the image holds. Not checked: that
the image builds and starts (that needs `docker build`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path, PurePosixPath

import pytest

from chaos.experiment import load_experiment
from chaos.pytest_plugin import document_kind

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
WEEKLY_PLAN = "experiments/sandbox/weekly-gameday.yaml"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    def flags(self) -> dict[str, str]:
        return dict(re.findall(r"--([a-z-]+)=(\S+)", self.arguments))

    def words(self) -> list[str]:
        return [word for word in self.arguments.split() if not word.startswith("--")]


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """Stages of instructions: comments dropped, backslash continuations joined."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    stages: list[list[Instruction]] = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        assert stages, f"instruction before the first FROM: {line}"
        stages[-1].append(instruction)
    return stages


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `path` (or a folder above it) out of the build context."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _ignore_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negate
    return excluded


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    # Go's filepath.Match, plus Docker's `**` (any number of folders).
    out = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out, index = out + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            out, index = out + ".*", index + 2
        elif pattern[index] == "*":
            out, index = out + "[^/]*", index + 1
        elif pattern[index] == "?":
            out, index = out + "[^/]", index + 1
        else:
            out, index = out + re.escape(pattern[index]), index + 1
    return re.compile(out)


def ignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def stages() -> list[list[Instruction]]:
    return parse_dockerfile(DOCKERFILE.read_text())


def context_copies(stage: list[Instruction]) -> list[tuple[str, str]]:
    """(source, destination) of the COPY instructions that read the build context."""
    pairs = []
    for instruction in stage:
        if instruction.keyword == "COPY" and "from" not in instruction.flags():
            *sources, destination = instruction.words()
            pairs += [(source.rstrip("/"), destination) for source in sources]
    return pairs


def exec_form(stage: list[Instruction], keyword: str) -> list[str]:
    found = [instruction for instruction in stage if instruction.keyword == keyword]
    assert found, f"no {keyword} in the runner stage"
    value = json.loads(found[-1].arguments)  # exec form: a JSON array, no shell
    assert isinstance(value, list)
    return [str(item) for item in value]


def test_parser_sees_stages_and_continuations() -> None:
    parsed = parse_dockerfile("FROM a AS b\n# c\nRUN x \\\n  # inside\n  && y\nFROM d\nUSER 1\n")
    assert [[i.keyword for i in stage] for stage in parsed] == [["FROM", "RUN"], ["FROM", "USER"]]
    assert parsed[0][1].arguments == "x  && y"
    with pytest.raises(AssertionError):
        parse_dockerfile("RUN x\n")


def test_runner_stage_is_python_312_slim_and_its_entrypoint_is_gameday(
    stages: list[list[Instruction]],
) -> None:
    runner = stages[-1]
    assert runner[0].words()[0] == "python:3.12-slim"
    assert exec_form(runner, "ENTRYPOINT") == ["gameday"]
    (script,) = entry_points(group="console_scripts", name="gameday")
    assert script.value == "chaos.cli:main"  # the console script the entrypoint runs
    installs = [i.arguments for i in runner if i.keyword == "RUN" and "pip install" in i.arguments]
    assert installs and all("chaos-gameday" in command for command in installs)


def test_runner_is_not_root(stages: list[list[Instruction]]) -> None:
    runner = stages[-1]
    users = [instruction.words()[0] for instruction in runner if instruction.keyword == "USER"]
    assert users, "the runner stage never leaves root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    created = " ".join(i.arguments for i in runner if i.keyword == "RUN")
    assert re.search(rf"useradd\b.*--uid {re.escape(user)}\b", created), "USER is not created"
    last_user_index = max(index for index, i in enumerate(runner) if i.keyword == "USER")
    assert all(i.keyword not in ("RUN", "COPY", "ADD") for i in runner[last_user_index:]), (
        "instructions after USER would run as that user but were meant for root"
    )


def test_no_secret_is_baked_in(stages: list[list[Instruction]]) -> None:
    secret = re.compile(
        r"SECRET|TOKEN|PASSWORD|ACCESS_KEY|SESSION|CREDENTIAL|GAMEDAY_JOURNAL", re.IGNORECASE
    )
    for stage in stages:
        for instruction in stage:
            if instruction.keyword in ("ENV", "ARG", "LABEL"):
                assert not secret.search(instruction.arguments), instruction
            assert instruction.keyword != "ADD", "ADD fetches URLs and unpacks: COPY only"
    patterns = ignore_patterns()
    for private in (
        ".git",
        ".gameday",
        "runs/.gameday/x/journal.json",
        ".aws/credentials",
        "reports/weekly-gameday/result.json",
        ".venv/bin/python",
    ):
        assert dockerignore_excludes(private, patterns), private


def test_copy_sources_exist_and_reach_the_build_context(stages: list[list[Instruction]]) -> None:
    patterns = ignore_patterns()
    copies = [pair for stage in stages for pair in context_copies(stage)]
    assert copies
    for source, _ in copies:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        assert not dockerignore_excludes(source, patterns), f"COPY {source}: .dockerignore cuts it"


def test_dockerignore_matcher_follows_docker_rules() -> None:
    assert dockerignore_excludes("a/b/.gameday/j.json", ["**/.gameday"])
    assert dockerignore_excludes(".git/config", [".git"])
    assert not dockerignore_excludes("chaos/cli/__init__.py", [".git", "**/__pycache__"])
    assert not dockerignore_excludes("docs/keep.md", ["docs", "!docs/keep.md"])


def build_context(stage: list[Instruction], into: Path) -> Path:
    """The files `stage` copies from the build context (what .dockerignore lets through)."""
    patterns = ignore_patterns()

    def ignored(folder: str, names: list[str]) -> set[str]:
        relative = Path(folder).resolve().relative_to(REPO)
        return {
            name for name in names if dockerignore_excludes((relative / name).as_posix(), patterns)
        }

    for source, destination in context_copies(stage):
        origin = REPO / source
        if origin.is_dir():
            shutil.copytree(origin, into / destination, ignore=ignored, dirs_exist_ok=True)
        else:
            folder = into / destination
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, folder / origin.name)
    return into


def test_the_wheel_stage_context_builds_the_package(
    stages: list[list[Instruction]], tmp_path: Path
) -> None:
    wheel_stage = next(
        stage
        for stage in stages
        if "pip wheel" in " ".join(i.arguments for i in stage if i.keyword == "RUN")
    )
    context = build_context(wheel_stage, tmp_path / "src")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path / "wheels"),
            ".",
        ],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (tmp_path / "wheels").glob("chaos_gameday-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "chaos/cli/__init__.py",
        "chaos/cli/commands/experiment.py",
        "chaos/gameday/cron.py",
        "chaos/sandbox/process/control.py",
        "gameday_chaos/layer/x86_64/extensions/gameday-chaos",
        "gameday_chaos/layer/arm64/extensions/gameday-chaos",
        "gameday_chaos/layer/common/gameday-chaos-wrapper",
    } <= names
    # Package discovery: every package of the tree ships, and nothing that is not one.
    packages = {
        path.relative_to(REPO).as_posix()
        for path in (REPO / "chaos").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert packages <= names, sorted(packages - names)
    assert {name.split("/")[0] for name in names if not name.startswith("chaos_gameday-")} == {
        "chaos",
        "gameday_chaos",
    }
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "gameday = chaos.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def image_paths(stages: list[list[Instruction]]) -> set[str]:
    """Folders the runner stage copies into its WORKDIR, as paths from that WORKDIR."""
    return {destination.rstrip("/") for _, destination in context_copies(stages[-1])}


def test_experiments_in_the_image_find_their_locustfiles(
    stages: list[list[Instruction]],
) -> None:
    in_image = image_paths(stages)
    assert {"experiments", "loadtests"} <= in_image
    experiments = [
        path
        for path in (REPO / "experiments").rglob("*.yaml")
        if document_kind(path) == "experiment"
    ]
    assert experiments
    for path in experiments:
        experiment = load_experiment(path)
        if experiment.load is None:
            continue
        locustfile = (path.parent / experiment.load.locustfile).resolve()
        assert locustfile.is_file(), f"{path}: {locustfile}"
        top = locustfile.relative_to(REPO).parts[0]
        assert top in in_image, f"{path}: its locustfile {locustfile} is not in the image"


def test_schedule_override_runs_gameday_on_a_plan_the_image_holds(
    stages: list[list[Instruction]],
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chaos", "schedule", WEEKLY_PLAN, "--format", "eventbridge"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    overrides = json.loads(json.loads(result.stdout)["Target"]["Input"])
    (container,) = overrides["containerOverrides"]
    # ECS replaces the image's CMD with `command`; the ENTRYPOINT stays in front of it.
    argv = exec_form(stages[-1], "ENTRYPOINT") + container["command"]
    assert argv[:3] == ["gameday", "run", WEEKLY_PLAN]
    assert PurePosixPath(argv[2]).parts[0] in image_paths(stages)
