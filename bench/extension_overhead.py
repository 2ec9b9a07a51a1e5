"""Overhead of the fault-injection extension, measured against the local Lambda harness.

Two execution environments run the same function through the real runtime client
(awslambdaric): one without the layer, one with the layer and a config whose faults
never fire (every rate 0). Invocations alternate between the two (the order flips
every round) so machine noise hits both equally. Reported: p50 and p99 of the
per-invocation latency seen by the caller, over N invocations each, and the
extension's init time (process start -> first /event/next, median of several cold
starts).

Usage: python bench/extension_overhead.py [--invocations 5000] [--warmup 300] [--cold-starts 7]
Last line: added_p50_ms=<x> added_p99_ms=<y> init_ms=<z>
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gameday_chaos import config as chaos_config

from chaos.lambda_local import ExecutionEnvironment, free_port
from chaos.layer import write_layer_zip

FUNCTION = """
def handler(event, context):
    return {"statusCode": 200, "body": "ok"}
"""
NO_FIRE = {
    "latency": {"ms": 100, "jitter_ms": 0, "rate": 0.0},
    "error": {"status_code": 503, "rate": 0.0},
    "exception": {"rate": 0.0},
    "timeout": {"rate": 0.0},
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = q / 100.0 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def chaos_env(code: Path, layer: Path) -> ExecutionEnvironment:
    config = chaos_config.dump_config(NO_FIRE, run_id="bench", expires_at=time.time() + 3600)
    return ExecutionEnvironment(
        code,
        "app.handler",
        layers=[layer],
        function_name="bench",
        env={
            chaos_config.EXEC_WRAPPER_ENV_KEY: chaos_config.WRAPPER_PATH,
            chaos_config.CONFIG_ENV_KEY: config,
            chaos_config.PORT_ENV_KEY: str(free_port()),
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--cold-starts", type=int, default=7)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="ext-bench-") as tmp:
        root = Path(tmp)
        code = root / "code"
        code.mkdir()
        (code / "app.py").write_text(FUNCTION)
        layer = write_layer_zip(root / "layer")

        init_ms: list[float] = []
        for _ in range(args.cold_starts):
            with chaos_env(code, layer) as env:
                report = env.start()
                init_ms.append(report.extensions_ms["gameday-chaos"])

        plain = ExecutionEnvironment(code, "app.handler", function_name="bench")
        chaos = chaos_env(code, layer)
        try:
            plain.start()
            chaos.start()
            for _ in range(args.warmup):
                plain.invoke(b"{}")
                chaos.invoke(b"{}")
            base: list[float] = []
            with_layer: list[float] = []
            clock = time.perf_counter
            gc.collect()
            gc.disable()
            try:
                for i in range(args.invocations):
                    order = ((plain, base), (chaos, with_layer))
                    for env, sink in order if i % 2 == 0 else order[::-1]:
                        t0 = clock()
                        result = env.invoke(b"{}")
                        sink.append((clock() - t0) * 1000.0)
                        if result.function_error is not None:
                            raise SystemExit(f"unexpected function error: {result.payload!r}")
            finally:
                gc.enable()
            fired = [line for line in chaos.logs("extension") if '"_aws"' in line.text]
            if fired:
                raise SystemExit("a fault fired during the benchmark")
        finally:
            plain.close()
            chaos.close()

    p50_base, p99_base = percentile(base, 50), percentile(base, 99)
    p50_layer, p99_layer = percentile(with_layer, 50), percentile(with_layer, 99)
    init = statistics.median(init_ms)
    print(f"python {sys.version.split()[0]}, {args.invocations} invocations each, alternating")
    print(f"without layer: p50={p50_base:.3f} ms p99={p99_base:.3f} ms")
    print(f"with layer:    p50={p50_layer:.3f} ms p99={p99_layer:.3f} ms (no fault firing)")
    print(
        f"extension init (median of {len(init_ms)} cold starts): {init:.1f} ms; "
        f"all: {', '.join(f'{v:.1f}' for v in init_ms)}"
    )
    print(
        f"added_p50_ms={p50_layer - p50_base:.3f} "
        f"added_p99_ms={p99_layer - p99_base:.3f} init_ms={init:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
