"""Compact recordings of sandbox runs for bench/gate_power.py: per second, counts and latency.

    python bench/gate_recording.py REPORT_DIR RUN_DIR OUT.json
    python bench/gate_recording.py --short   # CI: a synthetic 12-second run, recorded and read

REPORT_DIR holds the run's result.json (its timeline labels each second with its phase),
RUN_DIR the run's load-rows.jsonl (.gameday/runs/<run-id>/). The recording keeps, for
every second of the run in time order, its segment (baseline, transition, fault,
recovery, or "outside"), the legitimate requests, failures, status classes, and the
second's merged HDR histogram as ``value_ms:count`` pairs (lossless with respect to the
histogram; a few dozen bytes per second). Abusive WAF clients are left out, as in the SLIs.
``--short`` records a synthetic run made on the spot and reads the recording back, the
path every recording takes to bench/gate_power.py; it prints the same line.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chaos.metrics.histogram import LatencyHistogram
from chaos.metrics.rows import STATUS_CLASSES, SecondRow
from chaos.verdict.sample import latency_counts

FORMAT = 1


@dataclass(frozen=True)
class RecordedSecond:
    segment: str
    requests: int
    failures: int
    status_classes: Mapping[str, int]
    latency_ms: Mapping[float, int]


@dataclass(frozen=True)
class Recording:
    experiment: str
    run_id: str
    users: int
    seconds: tuple[RecordedSecond, ...]

    def segment(self, name: str) -> list[RecordedSecond]:
        return [second for second in self.seconds if second.segment == name]


def record(report_dir: Path, run_dir: Path) -> dict[str, Any]:
    result = json.loads((report_dir / "result.json").read_text())
    merged: dict[int, tuple[list[int], dict[str, int], LatencyHistogram]] = {}
    for line in (run_dir / "load-rows.jsonl").read_text().splitlines():
        row = SecondRow.from_json(line)
        if row.traffic == "abusive":
            continue
        counts, statuses, histogram = merged.setdefault(
            row.second, ([0, 0], {}, LatencyHistogram())
        )
        counts[0] += row.requests
        counts[1] += row.failures
        for name, count in row.status_classes.items():
            statuses[name] = statuses.get(name, 0) + count
        histogram.merge(row.histogram)
    seconds = []
    for item in result["timeline"]:
        counts, statuses, histogram = merged.get(
            int(item["second"]), ([0, 0], {}, LatencyHistogram())
        )
        seconds.append(
            [
                item["phase"] or "outside",
                counts[0],
                counts[1],
                ",".join(
                    f"{name}:{statuses[name]}" for name in STATUS_CLASSES if statuses.get(name)
                ),
                ",".join(
                    f"{value:g}:{count}" for value, count in latency_counts(histogram).items()
                ),
            ]
        )
    return {
        "format": FORMAT,
        "experiment": str(result["experiment"]),
        "run_id": result["run_id"],
        "outcome": result["outcome"],
        "users": _users(result),
        "seconds": seconds,
    }


def _users(result: Mapping[str, Any]) -> int:
    """`load.users` of the experiment the run ran (the result does not repeat it)."""
    experiment = yaml.safe_load(Path(str(result["experiment_path"])).read_text())
    return int(experiment["load"]["users"])


def _pairs(text: str) -> Iterator[tuple[str, str]]:
    for item in filter(None, text.split(",")):
        name, _, count = item.partition(":")
        yield name, count


def load(path: Path) -> Recording:
    raw = json.loads(path.read_text())
    if raw.get("format") != FORMAT:
        raise ValueError(f"{path}: recording format {raw.get('format')!r}, expected {FORMAT}")
    seconds = tuple(
        RecordedSecond(
            segment,
            int(requests),
            int(failures),
            {name: int(count) for name, count in _pairs(statuses)},
            {float(value): int(count) for value, count in _pairs(latency)},
        )
        for segment, requests, failures, statuses, latency in raw["seconds"]
    )
    return Recording(raw["experiment"], raw["run_id"], int(raw["users"]), seconds)


def load_all(folder: Path) -> list[Recording]:
    return [load(path) for path in sorted(folder.glob("*.json"))]


def write(recording: Mapping[str, Any], out: Path) -> None:
    text = json.dumps(recording, separators=(",", ":"))
    out.write_text(text.replace('],["', '],\n["') + "\n")


SYNTHETIC_SEGMENTS = ("baseline",) * 4 + ("transition",) + ("fault",) * 4 + ("recovery",) * 3


def synthetic_run(folder: Path) -> tuple[Path, Path, int]:
    """A run's result.json, experiment and load rows (legit and abusive), and its legit
    requests; the rows are what the Locust master writes."""
    rng = random.Random(11)
    (folder / "experiment.yaml").write_text("load: {users: 4}\n")
    timeline, rows, legit = [], [], 0
    for offset, segment in enumerate(SYNTHETIC_SEGMENTS):
        second = 1_800_000_000 + offset
        timeline.append({"second": second, "phase": segment})
        for traffic in ("legit", "legit", "abusive"):
            histogram = LatencyHistogram()
            requests = rng.randint(1, 5)
            for _ in range(requests):
                histogram.record(rng.lognormvariate(3.0, 0.5))
            legit += requests if traffic == "legit" else 0
            rows.append(
                SecondRow(
                    second=second,
                    user_class="Orders",
                    endpoint="GET /orders",
                    traffic=traffic,
                    identity=None,
                    requests=requests,
                    status_classes={"2xx": requests},
                    histogram=histogram,
                )
            )
    result = {
        "experiment": "synthetic",
        "run_id": "short",
        "outcome": "passed",
        "experiment_path": str(folder / "experiment.yaml"),
        "timeline": timeline,
    }
    (folder / "result.json").write_text(json.dumps(result))
    (folder / "load-rows.jsonl").write_text("".join(row.to_json() + "\n" for row in rows))
    return folder, folder, legit


def short() -> int:
    with tempfile.TemporaryDirectory(prefix="gate-recording-") as scratch:
        report_dir, run_dir, legit = synthetic_run(Path(scratch))
        out = Path(scratch) / "recording.json"
        write(record(report_dir, run_dir), out)
        recording = load(out)
        recorded = sum(second.requests for second in recording.seconds)
        if recorded != legit or len(recording.seconds) != len(SYNTHETIC_SEGMENTS):
            print(
                f"gate_recording: {recorded} legit requests in {len(recording.seconds)} "
                f"seconds read back, {legit} in {len(SYNTHETIC_SEGMENTS)} recorded",
                file=sys.stderr,
            )
            return 1
        print(f"{out.name}: {len(recording.seconds)} seconds, {out.stat().st_size} bytes")
    return 0


def main() -> int:
    if sys.argv[1:] == ["--short"]:
        return short()
    if len(sys.argv) != 4:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    report_dir, run_dir, out = (Path(arg) for arg in sys.argv[1:])
    recording = record(report_dir, run_dir)
    write(recording, out)
    print(f"{out}: {len(recording['seconds'])} seconds, {out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
