"""`gameday sandbox up|down|status|env`: the embedded local target."""

from __future__ import annotations

import argparse
import dataclasses
import os

from chaos.cli.options import Commands
from chaos.errors import InputError
from chaos.outcome import EXIT_PASSED, exit_for


def register(commands: Commands) -> None:
    sandbox = commands.add_parser("sandbox", help="the embedded local target")
    sandbox_commands = sandbox.add_subparsers(title="sandbox commands", metavar="COMMAND")
    sub = sandbox_commands.add_parser("up", help="start the sandbox in the background")
    sub.add_argument(
        "--realism",
        choices=["fast", "aws"],
        default=None,
        help="aws: as slow and imprecise as AWS where verdicts depend on it "
        "(default: $GAMEDAY_SANDBOX_REALISM, else fast)",
    )
    sub.set_defaults(handler=cmd_sandbox_up)
    for name, handler, help_text in (
        ("down", cmd_sandbox_down, "stop it"),
        ("status", cmd_sandbox_status, "is it running, where"),
        ("env", cmd_sandbox_env, "export lines for the shell"),
    ):
        sandbox_commands.add_parser(name, help=help_text).set_defaults(handler=handler)


def cmd_sandbox_up(arguments: argparse.Namespace) -> int:
    from chaos.sandbox.process import control
    from chaos.sandbox.realism import Realism

    realism = Realism.from_env(os.environ)
    if arguments.realism:
        realism = dataclasses.replace(realism, mode=arguments.realism)
    state, started = control.up(realism)
    print(
        f"sandbox {'started' if started else 'already running'}: {state.endpoint_url} "
        f"(pid {state.pid}, realism {state.realism}, state {state.source}); "
        "`eval $(gameday sandbox env)` to use it from a shell"
    )
    if control.advertise(state) is None and started:
        print(
            f"note: could not write {control.pointer_file() or 'a pointer under your home'}:"
            " other directories will not find this sandbox"
        )
    print(control.node_function_readiness(state, announce=lambda line: print(line, flush=True))[1])
    return EXIT_PASSED


def cmd_sandbox_down(arguments: argparse.Namespace) -> int:
    from chaos.sandbox.process import control

    print("sandbox stopped" if control.down() else "no sandbox running")
    return EXIT_PASSED


def cmd_sandbox_status(arguments: argparse.Namespace) -> int:
    from chaos.sandbox.process import control

    state = control.read_state()
    if not state:
        print("no sandbox running")
        return exit_for("failed")  # like `systemctl status` of a stopped unit
    print(
        f"running: pid {state.pid}, AWS API {state.endpoint_url}, since {state.started_at}, "
        f"realism {state.realism}, state {state.source}"
    )
    if state.api_endpoint:
        print(f"HTTP front: {state.api_endpoint}")
    return EXIT_PASSED


def cmd_sandbox_env(arguments: argparse.Namespace) -> int:
    from chaos.sandbox.process import control

    state = control.read_state()
    if not state:
        raise InputError("no sandbox running (start one: gameday sandbox up)")
    print("\n".join(control.env_lines(state)))
    return EXIT_PASSED
