"""Overhead of the fault-injection extension, measured against the local Lambda harness.

For each runtime client (Python's awslambdaric, Node.js's aws-lambda-ric) three execution
environments run the same function: without any layer, with the gameday-chaos layer and a
config whose faults never fire (every rate 0), and with the control - a minimal
pass-through Runtime API proxy built from Go's httputil.ReverseProxy (bench/control_proxy,
compiled here with the pinned toolchain) and started by a wrapper, the generic design.
Invocations alternate between the three (the order rotates every invocation) so machine
noise hits all alike. Per round: p50 and p99 of the latency seen by the caller, and the
extension's peak RSS (VmHWM); init is the extension's process start -> its first
/event/next over several cold starts. Each figure is the median of three rounds.

Usage: python bench/extension_overhead.py [--short] [--invocations N] [--rounds 3]
One line per runtime client:
runtime=NAME added_p50_ms=X added_p99_ms=Y init_ms=Z rss_mb=W
             control_added_p50_ms=A control_added_p99_ms=B   (on the same line)
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gameday_chaos import config as chaos_config

from chaos.faults.lambda_extension.layer import write_layer_zip
from chaos.faults.lambda_extension.toolchain import go_build
from chaos.sandbox.functions.local import ExecutionEnvironment, free_port
from chaos.sandbox.functions.local.node_ric import NodeRuntimeClient, cache_root, install_node_ric

RUNTIMES = ("python", "node")
PYTHON_APP = """
def handler(event, context):
    return {"statusCode": 200, "body": "ok"}
"""
NODE_APP = """
export const handler = async (event, context) => ({ statusCode: 200, body: "ok" });
"""
CONTROL_WRAPPER = """#!/bin/sh
AWS_LAMBDA_RUNTIME_API="127.0.0.1:${CONTROL_PROXY_PORT}"
export AWS_LAMBDA_RUNTIME_API
exec "$@"
"""
NO_FIRE = {
    "latency": {"ms": 100, "jitter_ms": 0, "rate": 0.0},
    "error": {"status_code": 503, "rate": 0.0},
    "exception": {"rate": 0.0},
    "timeout": {"rate": 0.0},
    "corruption": {"rate": 0.0},
    "disk": {"mb": 1, "rate": 0.0},
}
ARCHITECTURE = {"x86_64": "x86_64", "aarch64": "arm64"}[platform.machine()]


@dataclass(frozen=True)
class Setup:
    code: Path
    layer: Path
    control_layer: Path
    node: NodeRuntimeClient


@dataclass(frozen=True)
class Round:
    added_p50: float
    added_p99: float
    control_added_p50: float
    control_added_p99: float
    rss_mb: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = q / 100.0 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def prepare(root: Path) -> Setup:
    code = root / "code"
    code.mkdir()
    (code / "app.py").write_text(PYTHON_APP)
    (code / "index.mjs").write_text(NODE_APP)
    control = root / "control-layer"
    (control / "extensions").mkdir(parents=True)
    # a persistent cache: the control need not be reproducible, only built with this Go
    go_build(
        Path(__file__).parent / "control_proxy",
        ARCHITECTURE,
        control / "extensions" / "control-proxy",
        cache_root() / "bench-go",
    )
    (control / "control-wrapper").write_text(CONTROL_WRAPPER)
    (control / "control-wrapper").chmod(0o755)
    return Setup(code, write_layer_zip(root / "layer", ARCHITECTURE), control, install_node_ric())


def environment(setup: Setup, runtime: str, kind: str) -> ExecutionEnvironment:
    env: dict[str, str] = {}
    layers: list[Path] = []
    if kind == "chaos":
        layers = [setup.layer]
        env = {
            chaos_config.EXEC_WRAPPER_ENV_KEY: chaos_config.WRAPPER_PATH,
            chaos_config.CONFIG_ENV_KEY: chaos_config.dump_config(
                NO_FIRE, run_id="bench", expires_at=time.time() + 3600
            ),
            chaos_config.PORT_ENV_KEY: str(free_port()),
        }
    elif kind == "control":
        layers = [setup.control_layer]
        env = {
            "AWS_LAMBDA_EXEC_WRAPPER": "/opt/control-wrapper",
            "CONTROL_PROXY_PORT": str(free_port()),
        }
    handler = "index.handler" if runtime == "node" else "app.handler"
    command = setup.node.command(handler) if runtime == "node" else None
    return ExecutionEnvironment(
        setup.code, handler, layers=layers, env=env, function_name="bench", runtime_command=command
    )


def injections(env: ExecutionEnvironment) -> int:
    """Injected faults the extension reported (its EMF InjectedFaults lines only)."""
    count = 0
    for line in env.logs():
        if line.text.startswith("{") and '"_aws"' in line.text:
            count += int("InjectedFaults" in json.loads(line.text))
    return count


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    raise SystemExit(f"no VmHWM for process {pid}")


def init_times(setup: Setup, runtime: str, cold_starts: int) -> list[float]:
    times = []
    for _ in range(cold_starts):
        with environment(setup, runtime, "chaos") as env:
            times.append(env.start().extensions_ms["gameday-chaos"])
    return times


def one_round(setup: Setup, runtime: str, invocations: int, warmup: int) -> Round:
    envs = {kind: environment(setup, runtime, kind) for kind in ("plain", "chaos", "control")}
    samples: dict[str, list[float]] = {kind: [] for kind in envs}
    try:
        for env in envs.values():
            env.start()
        for _ in range(warmup):
            for env in envs.values():
                env.invoke(b"{}")
        kinds = list(envs)
        clock = time.perf_counter
        gc.collect()
        gc.disable()
        try:
            for i in range(invocations):
                for step in range(3):
                    kind = kinds[(i + step) % 3]
                    started = clock()
                    result = envs[kind].invoke(b"{}")
                    samples[kind].append((clock() - started) * 1000.0)
                    if result.function_error is not None:
                        raise SystemExit(f"unexpected function error: {result.payload!r}")
        finally:
            gc.enable()
        rss = peak_rss_mb(envs["chaos"].process_ids()["extension:gameday-chaos"])
        for env in envs.values():
            env.shutdown()  # drains the output pipes
        fired = injections(envs["chaos"])
        if fired:
            raise SystemExit(f"{fired} faults fired during the benchmark")
    finally:
        for env in envs.values():
            env.close()
    base = samples["plain"]
    return Round(
        added_p50=percentile(samples["chaos"], 50) - percentile(base, 50),
        added_p99=percentile(samples["chaos"], 99) - percentile(base, 99),
        control_added_p50=percentile(samples["control"], 50) - percentile(base, 50),
        control_added_p99=percentile(samples["control"], 99) - percentile(base, 99),
        rss_mb=rss,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--short", action="store_true", help="a few hundred invocations: seconds, same output (CI)"
    )
    parser.add_argument(
        "--invocations",
        type=int,
        default=None,
        help="invocations per environment and round (default 10000, short 150)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold-starts", type=int, default=None)
    args = parser.parse_args(argv)
    invocations = args.invocations or (150 if args.short else 10000)
    warmup = 20 if args.short else 300
    cold_starts = args.cold_starts or (3 if args.short else 9)

    with tempfile.TemporaryDirectory(prefix="ext-bench-") as tmp:
        setup = prepare(Path(tmp))
        print(
            f"{invocations} invocations per environment and round, {args.rounds} rounds, "
            f"alternating plain / gameday-chaos / control; {ARCHITECTURE}, "
            f"python {sys.version.split()[0]}, aws-lambda-ric {setup.node.version}",
            flush=True,
        )
        for runtime in RUNTIMES:
            inits = init_times(setup, runtime, cold_starts)
            rounds = [one_round(setup, runtime, invocations, warmup) for _ in range(args.rounds)]

            def median(field: str, rounds: list[Round] = rounds) -> float:
                return statistics.median(getattr(item, field) for item in rounds)

            print(
                f"runtime={runtime} added_p50_ms={median('added_p50'):.3f} "
                f"added_p99_ms={median('added_p99'):.3f} "
                f"init_ms={statistics.median(inits):.1f} rss_mb={median('rss_mb'):.1f} "
                f"control_added_p50_ms={median('control_added_p50'):.3f} "
                f"control_added_p99_ms={median('control_added_p99'):.3f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
