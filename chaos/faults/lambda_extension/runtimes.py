"""Which Lambda runtimes the extension's exec wrapper reaches.

The proxy is started by the exec wrapper (``AWS_LAMBDA_EXEC_WRAPPER``). "Wrapper scripts
are supported on all native Lambda runtimes. Wrapper scripts are not supported on OS-only
runtimes (the provided runtime family)." ("Modifying the runtime environment", Wrapper
scripts, https://docs.aws.amazon.com/lambda/latest/dg/runtimes-modify.html). The native
(managed) runtimes are the Node.js, Python, Java, .NET and Ruby families ("Lambda
runtimes", https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html); the retired
``go1.x`` runs on the Amazon Linux 1 OS-only image and ignores the wrapper too.
"""

from __future__ import annotations

from typing import Any

from chaos.errors import PreflightRefused

__all__ = ["OS_ONLY_PREFIXES", "WRAPPER_RUNTIME_PREFIXES", "refuse_unwrapped_runtime"]

#: Runtime identifier prefixes of the managed runtimes that honour AWS_LAMBDA_EXEC_WRAPPER.
WRAPPER_RUNTIME_PREFIXES = ("nodejs", "python", "java", "dotnet", "ruby")
#: The OS-only runtimes (custom runtimes, Go, Rust, native AOT): no wrapper scripts.
OS_ONLY_PREFIXES = ("provided", "go1")
BOOTSTRAP_ROUTE = (
    'start the proxy from your own bootstrap (extension/README.md, "OS-only runtimes")'
)


def refuse_unwrapped_runtime(config: dict[str, Any]) -> None:
    """Refuse a zip function whose runtime does not start the exec wrapper (one line)."""
    name = config["FunctionName"]
    runtime = str(config.get("Runtime") or "")
    if runtime.startswith(OS_ONLY_PREFIXES):
        raise PreflightRefused(
            f"{name}: runtime {runtime} is an OS-only runtime, which ignores "
            f"AWS_LAMBDA_EXEC_WRAPPER; {BOOTSTRAP_ROUTE}"
        )
    if not runtime.startswith(WRAPPER_RUNTIME_PREFIXES):
        raise PreflightRefused(
            f"{name}: runtime {runtime or 'unknown'} is not a managed runtime known to honour "
            f"AWS_LAMBDA_EXEC_WRAPPER (Node.js, Python, Java, .NET, Ruby); refusing"
        )
