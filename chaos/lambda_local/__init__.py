"""Local emulation of the Lambda Runtime and Extensions APIs.

:class:`ExecutionEnvironment` runs a function's code through the real runtime
client (``awslambdaric``) and the external extensions of its layers, on 127.0.0.1,
the way Lambda does: init, serial invokes with a deadline, shutdown.
"""

from chaos.host import free_port
from chaos.lambda_local.api import ApiServer, LambdaApi
from chaos.lambda_local.environment import (
    ExecutionEnvironment,
    HarnessError,
    InitError,
    InitReport,
    InvokeResult,
    LogLine,
    ProcessExit,
    ShutdownReport,
    extract_layer,
)

__all__ = [
    "ApiServer",
    "ExecutionEnvironment",
    "HarnessError",
    "InitError",
    "InitReport",
    "InvokeResult",
    "LambdaApi",
    "LogLine",
    "ProcessExit",
    "ShutdownReport",
    "extract_layer",
    "free_port",
]
