"""The sandbox process: a local AWS API (moto) on 127.0.0.1, seeded, until SIGTERM.

Run by `gameday sandbox up` as `python -m chaos.sandbox.server --state-file PATH`.
It runs moto in this process (not as a client of it) so that the local data plane
can later read moto's backend objects directly.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from pathlib import Path

from chaos.aws import AwsClients
from chaos.journal import utc_now, write_atomically
from chaos.sandbox.seed import REGION, seed


def serve(state_file: Path, port: int) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound_port = server.get_host_and_port()
    endpoint_url = f"http://{host}:{bound_port}"
    seeded = seed(AwsClients(region=REGION, endpoint_url=endpoint_url))

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    state = {
        "pid": os.getpid(),
        "endpoint_url": endpoint_url,
        "region": REGION,
        "started_at": utc_now(),
        "http_front": None,
        "service": seeded.to_dict(),
    }
    write_atomically(state_file, json.dumps(state, indent=2))
    try:
        while not stopping.wait(1.0):
            if not state_file.exists():  # `down` from a stale state or a wiped home
                break
    finally:
        try:
            current = json.loads(state_file.read_text())
            if current.get("pid") == os.getpid():
                state_file.unlink()
        except (OSError, ValueError):
            pass
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m chaos.sandbox.server")
    parser.add_argument("--state-file", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    arguments = parser.parse_args()
    started = time.monotonic()
    serve(arguments.state_file, arguments.port)
    print(f"sandbox stopped after {time.monotonic() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
