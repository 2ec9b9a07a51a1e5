"""Local emulation of the Lambda Runtime and Extensions APIs.

:class:`ExecutionEnvironment` runs a function's code through the real runtime
client (``awslambdaric``, or Node.js's ``aws-lambda-ric`` built by
:func:`install_node_ric`) and the external extensions of its layers, on 127.0.0.1,
the way Lambda does: init, serial invokes with a deadline, shutdown.
"""

from chaos.host import free_port
from chaos.sandbox.functions.local.api import ApiServer, LambdaApi
from chaos.sandbox.functions.local.environment import (
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
from chaos.sandbox.functions.local.node_ric import (
    NodeRuntimeClient,
    NodeRuntimeUnavailable,
    install_node_ric,
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
    "NodeRuntimeClient",
    "NodeRuntimeUnavailable",
    "ProcessExit",
    "ShutdownReport",
    "extract_layer",
    "free_port",
    "install_node_ric",
]
