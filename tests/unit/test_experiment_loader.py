from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from chaos.errors import EXIT_INVALID, InputError
from chaos.experiment import (
    Experiment,
    GamedayPlan,
    load_document,
    load_experiment,
    load_plan,
    validate_paths,
)
from chaos.faults.az_loss.spec import AzLossSpec
from chaos.faults.lambda_extension.spec import LambdaExtensionSpec

FIXTURES = Path(__file__).parent / "fixtures"
FULL = FIXTURES / "experiments" / "full.yaml"
PLAN = FIXTURES / "experiments" / "plan.yaml"
BROKEN = FIXTURES / "broken"
FULL_TEXT = FULL.read_text()


def one_error(path: Path) -> tuple[int, int, str]:
    """Load ``path``, expect exactly one error line, return (line, col, rest)."""
    with pytest.raises(InputError) as info:
        load_document(path)
    assert info.value.exit_code == EXIT_INVALID
    lines = str(info.value).splitlines()
    assert len(lines) == 1, lines
    match = re.match(rf"^{re.escape(str(path))}:(\d+):(\d+): (.*)$", lines[0])
    assert match, lines[0]
    assert "Traceback" not in lines[0]
    return int(match[1]), int(match[2]), match[3]


def variant(tmp_path: Path, old: str, new: str, name: str = "exp.yaml") -> Path:
    assert old in FULL_TEXT, old
    path = tmp_path / name
    path.write_text(FULL_TEXT.replace(old, new, 1))
    return path


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


# --------------------------------------------------------------------------- valid


def test_product_example_loads() -> None:
    experiment = load_experiment(FULL)
    assert isinstance(experiment, Experiment)
    assert experiment.source == FULL
    assert experiment.name == "orders-az-loss"
    assert experiment.target.account_id == "123456789012"
    assert experiment.phases.baseline == 30.0
    assert experiment.phases.fault == 120.0
    assert experiment.phases.recovery == 60.0
    assert experiment.max_duration == 600.0
    lam, az = experiment.faults
    assert isinstance(lam, LambdaExtensionSpec)
    assert lam.functions == ["orders-create", "orders-get"]
    assert lam.fault_config() == {
        "latency": {"ms": 300, "jitter_ms": 100, "rate": 1.0},
        "error": {"status_code": 503, "rate": 0.05},
        "exception": {"rate": 0.01},
    }
    assert isinstance(az, AzLossSpec)
    assert az.az_id == "use1-az1"
    assert az.targets.lambda_ == ["orders-create"]
    assert az.targets.ecs_services == ["orders/web"]
    assert experiment.load is not None
    assert experiment.load.workers == 2
    assert experiment.load.waf is not None
    assert experiment.load.waf.legit_clients == 20
    assert [check.sli for check in experiment.slo] == [
        "availability",
        "latency_p99_ms",
        "waf_time_to_block_s",
        "waf_legit_blocked",
    ]
    assert experiment.slo[1].phase == ["fault", "recovery"]
    assert experiment.slo[0].parsed_objective.holds(0.995)
    abort = experiment.stop_conditions.abort_when
    assert abort is not None
    assert abort.for_ == 20.0
    assert experiment.stop_conditions.alarms == ["orders-5xx-high"]


def test_plan_loads_and_resolves_experiments() -> None:
    plan = load_plan(PLAN)
    assert isinstance(plan, GamedayPlan)
    assert plan.name == "weekly-gameday"
    assert plan.schedule == "0 9 * * MON"
    assert plan.experiment_paths() == [PLAN.parent / "full.yaml"]
    assert isinstance(load_document(PLAN), GamedayPlan)


def test_load_experiment_refuses_a_plan_and_load_plan_an_experiment() -> None:
    with pytest.raises(InputError) as info:
        load_experiment(PLAN)
    assert str(info.value) == f"{PLAN}:3:7: kind: expected an experiment, this is a game-day plan"
    with pytest.raises(InputError) as info:
        load_plan(FULL)
    assert str(info.value) == f"{FULL}:2:7: kind: expected a game-day plan, this is an experiment"


# --------------------------------------------------------------------------- broken fixtures

BROKEN_CASES = [
    ("bad-indentation.yaml", 6, 14, "yaml: mapping values are not allowed here"),
    ("unknown-key.yaml", 13, 5, "faults[0].lantency: unknown field (did you mean 'latency'?)"),
    ("wrong-type.yaml", 22, 10, "load.users: Input should be a valid integer (got 'fifty')"),
    ("bad-duration.yaml", 8, 32, "phases.fault: invalid duration '2 minutes'"),
    ("missing-field.yaml", 20, 1, "load.locustfile: missing required field"),
    ("empty.yaml", 1, 1, "empty document (expected an experiment or game-day plan)"),
    ("binary.yaml", 1, 1, "not a text file"),
    ("az-name.yaml", 17, 12, "faults[1].az_id: az_id must be an AZ ID such as use1-az1, not an"),
    ("int-account-id.yaml", 6, 15, "target.account_id: account_id must be a quoted string"),
    ("bad-objective.yaml", 28, 64, "slo[1].objective: invalid objective 'under 1500'"),
    ("tab.yaml", 22, 1, "yaml: found character '\\t' that cannot start any token"),
    ("bad-cron.yaml", 6, 11, "schedule: schedule is not a valid cron expression '0 25 * * *'"),
]


@pytest.mark.parametrize(("name", "line", "col", "start"), BROKEN_CASES)
def test_broken_fixture(name: str, line: int, col: int, start: str) -> None:
    got_line, got_col, rest = one_error(BROKEN / name)
    assert (got_line, got_col) == (line, col)
    assert rest.startswith(start), rest


def test_directory_given_to_load_document(tmp_path: Path) -> None:
    line, col, rest = one_error(tmp_path)
    assert (line, col) == (1, 1)
    assert rest.startswith("is a directory")


def test_missing_file(tmp_path: Path) -> None:
    assert one_error(tmp_path / "nope.yaml") == (1, 1, "no such file")


def test_validate_paths_expands_directories_sorted() -> None:
    lines = validate_paths([BROKEN])
    assert len(lines) == len(BROKEN_CASES)
    files = [line.split(":", 1)[0] for line in lines]
    assert files == sorted(str(BROKEN / name) for name, *_ in BROKEN_CASES)
    assert all(re.match(r"^.+\.yaml:\d+:\d+: \S", line) for line in lines)


def test_validate_paths_good_files_and_nesting(tmp_path: Path) -> None:
    assert validate_paths([FULL, PLAN]) == []
    nested = tmp_path / "suite" / "deep"
    nested.mkdir(parents=True)
    shutil.copy(FULL, nested / "b.yml")
    shutil.copy(FULL, tmp_path / "suite" / "a.yaml")
    (tmp_path / "suite" / "notes.txt").write_text("not yaml")
    hidden = tmp_path / "suite" / ".cache"
    hidden.mkdir()
    (hidden / "x.yaml").write_text("garbage: [")
    (nested / "c.yaml").write_text("version: 1\n")
    assert validate_paths([tmp_path / "suite"]) == [
        f"{nested / 'c.yaml'}:1:1: kind: missing required field (one of: experiment, gameday)"
    ]


def test_validate_paths_empty_directory(tmp_path: Path) -> None:
    expected = f"{tmp_path}:1:1: no *.yaml or *.yml files in this directory"
    assert validate_paths([tmp_path]) == [expected]


# --------------------------------------------------------------------------- more broken files


def test_unknown_key_without_a_close_match_lists_allowed(tmp_path: Path) -> None:
    path = variant(tmp_path, "name: orders-az-loss\n", "name: orders-az-loss\nfrobnicate: 1\n")
    assert one_error(path) == (
        4,
        1,
        "frobnicate: unknown field; allowed: version, kind, name, description, target, phases, "
        "max_duration, faults, load, slo, gate, stop_conditions, expiry_margin, settle_timeout, "
        "expect_effect",
    )


def test_unknown_alias_key_suggests_alias(tmp_path: Path) -> None:
    path = variant(tmp_path, "for: 20s", "fro: 20s")
    assert one_error(path) == (
        33,
        53,
        "stop_conditions.abort_when.fro: unknown field (did you mean 'for'?)",
    )
    path = variant(tmp_path, "targets: {lambda:", "targets: {lamda:")
    line, col, rest = one_error(path)
    assert (line, col) == (19, 15)
    assert rest == "faults[1].targets.lamda: unknown field (did you mean 'lambda'?)"


def test_missing_top_level_field_points_at_document(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    head = "\n".join(FULL_TEXT.splitlines()[:3])
    path.write_text(head + "\nphases: {baseline: 1, fault: 1, recovery: 1}\nfaults: []\n")
    assert one_error(path) == (1, 1, "target: missing required field")


def test_missing_nested_field_in_a_list_item(tmp_path: Path) -> None:
    path = variant(tmp_path, "    az_id: use1-az1\n", "")
    assert one_error(path) == (16, 5, "faults[1].az_id: missing required field")


def test_fault_type_missing_and_unknown(tmp_path: Path) -> None:
    path = variant(tmp_path, "  - type: az-loss\n    az_id", "  - az_id")
    assert one_error(path) == (
        16,
        5,
        "faults[1].type: missing required field (one of: lambda-extension, az-loss)",
    )
    path = variant(tmp_path, "type: az-loss", "type: az-lost")
    assert one_error(path) == (
        16,
        11,
        "faults[1].type: unknown type 'az-lost'; expected one of 'lambda-extension', 'az-loss'",
    )


def test_nested_wrong_type(tmp_path: Path) -> None:
    path = variant(tmp_path, "rate: 0.05}", "rate: high}")
    line, col, rest = one_error(path)
    assert (line, col) == (14, 37)
    assert rest == "faults[0].error.rate: Input should be a valid number (got 'high')"
    path = variant(tmp_path, "phases: {baseline: 30s, fault: 120s, recovery: 60s}", "phases: 5")
    assert one_error(path) == (8, 9, "phases: expected a mapping")


@pytest.mark.parametrize(
    ("objective", "ok"),
    [
        (">= 99s", True),  # a percentage does not fit waf_time_to_block_s (seconds): see
        ("> 500ms", True),  # tests/unit/test_objective_units.py
        ("<= 60", True),
        ("< 1500ms", True),
        ("== 0", True),
        ("!= 0s", True),
        ("=> 99%", False),
        (">= 99 percent", False),
        ("99%", False),
        ("<= 150%", False),
        ("~ 5", False),
    ],
)
def test_objective_in_file(tmp_path: Path, objective: str, ok: bool) -> None:
    path = variant(tmp_path, '"<= 60"', f'"{objective}"')
    if ok:
        assert load_experiment(path).slo[2].objective == objective
        return
    line, col, rest = one_error(path)
    assert (line, col) == (29, 43)
    assert rest.startswith(f"slo[2].objective: invalid objective {objective!r}: ")


def test_bad_phase_name(tmp_path: Path) -> None:
    path = variant(tmp_path, "phase: [fault, recovery]", "phase: [fault, recover]")
    assert one_error(path) == (
        28,
        34,
        "slo[1].phase: unknown phase 'recover'; expected one of baseline, fault, recovery",
    )


def test_duplicate_key(tmp_path: Path) -> None:
    path = variant(tmp_path, "  users: 50\n", "  users: 50\n  users: 60\n")
    expected = "load.users: duplicate key 'users' (first at line 22, column 3)"
    assert one_error(path) == (23, 3, expected)


def test_max_duration_too_short(tmp_path: Path) -> None:
    path = variant(tmp_path, "max_duration: 10m", "max_duration: 3m")
    line, col, rest = one_error(path)
    assert (line, col) == (9, 15)
    assert rest.startswith("max_duration: max_duration 3m is shorter than the phases (3m30s)")


def test_az_id_region_mismatch(tmp_path: Path) -> None:
    path = variant(tmp_path, "  region: us-east-1", "  region: eu-west-1")
    line, col, rest = one_error(path)
    assert (line, col) == (11, 3)  # the faults list
    assert "use1-az1 is not in target.region eu-west-1" in rest


@pytest.mark.parametrize(
    ("text", "line", "col", "start"),
    [
        ("- a\n- b\n", 1, 1, "the top level must be a mapping"),
        ("just a string\n", 1, 1, "the top level must be a mapping"),
        ("# only a comment\n\n", 1, 1, "empty document"),
        ("version: 1\nname: x\n", 1, 1, "kind: missing required field (one of: experiment, ga"),
        ("version: 1\nkind: test\n", 2, 7, "kind: unknown kind 'test'; expected one of: experim"),
        ("kind: experiment\n---\nkind: gameday\n", 2, 1, "yaml: but found another document"),
        ("kind: [experiment\n", 2, 1, "yaml: "),
        ("a: b: c\n", 1, 5, "yaml: mapping values are not allowed here"),
    ],
)
def test_documents_that_are_not_experiments(
    tmp_path: Path, text: str, line: int, col: int, start: str
) -> None:
    path = tmp_path / "doc.yaml"
    path.write_text(text)
    got_line, got_col, rest = one_error(path)
    assert (got_line, got_col) == (line, col)
    assert rest.startswith(start), rest


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: café\n".encode("latin-1"))
    line, col, rest = one_error(path)
    assert (line, col) == (1, 1)
    assert rest.startswith("not a text file (not UTF-8")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + FULL.read_bytes())
    assert load_experiment(path).name == "orders-az-loss"


def test_long_values_are_not_echoed(tmp_path: Path) -> None:
    secret = "s3cr3t" * 10
    path = variant(tmp_path, "  region: us-east-1", f"  region: {secret}")
    line, _, rest = one_error(path)
    assert line == 5
    assert secret not in rest
    assert "must be an AWS region such as us-east-1" in rest
    path = variant(tmp_path, "https://abc123", f"https://user:{secret}@abc123", name="e2.yaml")
    assert load_experiment(path).target.endpoint is not None
    path = variant(tmp_path, "users: 50", f"users: {secret}", name="e3.yaml")
    _, _, rest = one_error(path)
    assert secret not in rest
    assert "a value of 60 characters" in rest


def test_plan_with_missing_experiment_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("version: 1\nkind: gameday\nname: gd\nexperiments:\n  - missing.yaml\n")
    assert one_error(path) == (5, 5, f"experiments[0]: no such file: {tmp_path / 'missing.yaml'}")


def test_several_errors_are_one_line_each_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    text = FULL_TEXT.replace("users: 50", "users: 0").replace("ms: 300,", "ms: -3,")
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_document(path)
    lines = str(info.value).splitlines()
    assert [line.split(": ", 2)[1] for line in lines] == ["faults[0].latency.ms", "load.users"]
    assert lines[0].startswith(f"{path}:13:19: ")
    assert lines[1].startswith(f"{path}:22:10: ")


@pytest.mark.parametrize(
    ("old", "new", "needle", "fragment"),
    [
        (
            "  users: 50",
            "  users: 5000000",
            "users:",
            "load.users: Input should be less than or equal to 100000",
        ),
        (
            "  spawn_rate: 10",
            "  spawn_rate: 0.01",
            "locustfile:",  # the load mapping's start
            "load: 50 users at spawn_rate 0.01/s take 1h23m20s to start, longer than the phases",
        ),
        (
            "  spawn_rate: 10",
            "  spawn_rate: 1000000",
            "spawn_rate:",
            "load.spawn_rate: Input should be",
        ),
        (
            "fault: 120s",
            "fault: 25h",
            "phases:",
            "phases.fault: the fault phase lasts 25h; a phase lasts at most 24h",
        ),
    ],
)
def test_absurd_load_and_phases_are_refused_where_they_are_written(
    tmp_path: Path, old: str, new: str, needle: str, fragment: str
) -> None:
    path = variant(tmp_path, old, new)
    line, _, rest = one_error(path)
    assert line == line_of(path, needle)
    assert rest.startswith(fragment), rest


def test_one_second_phases_stay_valid(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        "phases: {baseline: 30s, fault: 120s, recovery: 60s}",
        "phases: {baseline: 1s, fault: 1s, recovery: 1s}",
    )
    path.write_text(path.read_text().replace("spawn_rate: 10", "spawn_rate: 50"))
    assert load_experiment(path).phases.total == 3.0
