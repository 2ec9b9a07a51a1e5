"""`gameday extension build|verify|publish`: the fault-injection layer."""

from __future__ import annotations

import argparse
from pathlib import Path

from chaos.cli.options import Commands, target_options
from chaos.cli.targets import aws_clients
from chaos.errors import InputError
from chaos.outcome import EXIT_PASSED


def register(commands: Commands) -> None:
    extension = commands.add_parser("extension", help="the fault-injection layer")
    extension_commands = extension.add_subparsers(title="extension commands", metavar="COMMAND")
    sub = extension_commands.add_parser(
        "build", help="build one layer zip per architecture (prints each path, sha256)"
    )
    sub.add_argument("--out", type=Path, default=Path("."), help="output directory")
    sub.set_defaults(handler=cmd_extension_build)
    sub = extension_commands.add_parser(
        "verify",
        help="rebuild the binaries from source with the pinned Go; exit 0 only when "
        "they equal the packaged ones",
    )
    sub.set_defaults(handler=cmd_extension_verify)
    sub = extension_commands.add_parser("publish", help="publish the layer (reuses same hash)")
    target_options(sub, region=True)
    sub.set_defaults(handler=cmd_extension_publish)


def cmd_extension_build(arguments: argparse.Namespace) -> int:
    from chaos.faults.lambda_extension.layer import sha256_hex, write_layer_zips

    for path in write_layer_zips(arguments.out).values():
        print(f"{path} sha256 {sha256_hex(path.read_bytes())}")
    return EXIT_PASSED


def cmd_extension_verify(arguments: argparse.Namespace) -> int:
    from chaos.faults.lambda_extension.toolchain import verify

    results = verify()
    for result in results:
        state = "same bytes" if result.matches else "DIFFERS from the packaged binary"
        print(
            f"{result.architecture}: built sha256 {result.built_sha256} "
            f"packaged {result.packaged_sha256 or 'missing'}: {state}"
        )
    if all(result.matches for result in results):
        return EXIT_PASSED
    raise InputError(
        "the packaged extension binaries are not built from this source: "
        "python -c 'from chaos.faults.lambda_extension.toolchain import "
        "refresh_packaged_binaries; "
        "refresh_packaged_binaries()' rebuilds them"
    )


def cmd_extension_publish(arguments: argparse.Namespace) -> int:
    from chaos.faults.lambda_extension.layer import (
        ARCHITECTURES,
        build_layer_zip,
        lambda_code_sha256,
    )
    from chaos.faults.lambda_extension.layer_versions import publish_layer

    with aws_clients(arguments, arguments.region) as clients:
        for architecture in ARCHITECTURES:  # one layer version per architecture
            data = build_layer_zip(architecture)
            version = publish_layer(clients, data, lambda_code_sha256(data), architecture)
            print(f"{architecture}: {version.arn} CodeSha256={version.code_sha256}")
    return EXIT_PASSED
