"""Helpers of the harness tests: function code (Python and Node.js), config builder, EMF reader."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from gameday_chaos import config as chaos_config

from chaos.sandbox.functions.local import ExecutionEnvironment

#: The runtime clients every extension test runs under.
RUNTIMES = ("python", "node")


def config_json(
    faults: dict[str, Any], *, expires_in: float = 600.0, run_id: str = "r-test"
) -> str:
    return chaos_config.dump_config(faults, run_id=run_id, expires_at=time.time() + expires_in)


def emf_lines(env: ExecutionEnvironment, metric: str = "InjectedFaults") -> list[dict[str, Any]]:
    """The CloudWatch EMF documents of `metric` in the environment's output (any process).

    Shuts the environment down first: its output pipes are then drained, so no line is
    still in flight.
    """
    env.shutdown()
    out = []
    for line in env.logs():
        if line.text.startswith("{") and '"_aws"' in line.text:
            document = json.loads(line.text)
            if metric in document:
                out.append(document)
    return out


def binomial_interval(n: int, p: float, confidence: float = 0.999) -> tuple[int, int]:
    """Smallest [lo, hi] with P(X < lo) <= a/2 and P(X > hi) <= a/2 for X ~ Bin(n, p)."""
    tail = (1.0 - confidence) / 2.0

    def log_pmf(k: int) -> float:
        log_comb = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        return log_comb + k * math.log(p) + (n - k) * math.log1p(-p)

    pmf = [math.exp(log_pmf(k)) for k in range(n + 1)]
    lo, acc = 0, 0.0
    while acc + pmf[lo] <= tail:
        acc += pmf[lo]
        lo += 1
    hi, acc = n, 0.0
    while acc + pmf[hi] <= tail:
        acc += pmf[hi]
        hi -= 1
    return lo, hi


# Both handlers do the same: raise on {"raise": true}; append to the file {"mark": PATH}
# (a side effect prevent_execution must stop); list {"disk_dir": DIR} while running (the
# disk fault's fill); return "y" * size on {"size": N}; else an API Gateway proxy response
# echoing the event, the remaining time and the Runtime API address the runtime uses.
APP = r"""
import json
import os


def handler(event, context):
    if event.get("raise"):
        raise ValueError("boom from the function")
    if event.get("mark"):
        with open(event["mark"], "a") as marks:
            marks.write("ran\n")
    if "size" in event:
        return "y" * int(event["size"])
    disk = None
    if event.get("disk_dir"):
        disk = {name: os.path.getsize(os.path.join(event["disk_dir"], name))
                for name in sorted(os.listdir(event["disk_dir"]))}
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({
            "echo": event,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "runtime_api": os.environ.get("AWS_LAMBDA_RUNTIME_API"),
            "disk": disk,
        }),
    }
"""

NODE_APP = r"""
import { appendFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

export const handler = async (event, context) => {
  if (event.raise) {
    throw new TypeError("boom from the function");
  }
  if (event.mark) {
    appendFileSync(event.mark, "ran\n");
  }
  if (event.size !== undefined) {
    return "y".repeat(event.size);
  }
  let disk = null;
  if (event.disk_dir) {
    disk = {};
    for (const name of readdirSync(event.disk_dir).sort()) {
      disk[name] = statSync(join(event.disk_dir, name)).size;
    }
  }
  return {
    statusCode: 200,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      echo: event,
      remaining_ms: context.getRemainingTimeInMillis(),
      runtime_api: process.env.AWS_LAMBDA_RUNTIME_API,
      disk,
    }),
  };
};
"""

# The handler's own error type, as each runtime client reports it.
OWN_ERROR_TYPE = {"python": "ValueError", "node": "TypeError"}

# A minimal custom runtime that streams its response (chunked, with error trailers), the way
# Lambda's response-streaming runtimes talk to the Runtime API. Raw sockets on purpose.
STREAM_RUNTIME = r"""
import base64
import json
import os
import socket
import sys
import time

host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")


def read_response(f):
    status = f.readline()
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode().partition(":")
        headers[k.strip().lower()] = v.strip()
    body = f.read(int(headers.get("content-length", "0")))
    return int(status.split()[1]), headers, body


sock = socket.create_connection((host, int(port)))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
f = sock.makefile("rb")
while True:
    sock.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = read_response(f)
    if status != 200:
        sys.exit(1)
    event = json.loads(body)
    rid = headers["lambda-runtime-aws-request-id"]
    sock.sendall(
        ("POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: x\r\n"
         "Content-Type: text/plain\r\n"
         "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
         "Transfer-Encoding: chunked\r\n"
         "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n"
         "\r\n" % rid).encode()
    )
    for i in range(int(event.get("chunks", 5))):
        data = ("part-%d;" % i).encode() * (i + 1)
        sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))
        time.sleep(0.002)
    if event.get("fail_midway"):
        error = base64.b64encode(json.dumps(
            {"errorType": "StreamBroke", "errorMessage": "midway"}).encode())
        sock.sendall(b"0\r\nLambda-Runtime-Function-Error-Type: StreamBroke\r\n"
                     b"Lambda-Runtime-Function-Error-Body: " + error + b"\r\n\r\n")
    else:
        sock.sendall(b"0\r\n\r\n")
    status, _, _ = read_response(f)
"""
