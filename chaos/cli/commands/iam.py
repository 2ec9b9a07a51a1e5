"""`gameday iam-policy`: the least-privilege policy of a run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from chaos.cli.options import Commands, journal_option, no_janitor_option, target_options
from chaos.cli.targets import aws_clients
from chaos.errors import GamedayError, InputError
from chaos.outcome import EXIT_PASSED


def register(commands: Commands) -> None:
    sub = commands.command(
        "iam-policy", cmd_iam_policy, "the least-privilege IAM policy a run of an experiment needs"
    )
    sub.add_argument("experiment", type=Path, metavar="EXPERIMENT")
    sub.add_argument("--account-id", help="account of the ARNs (default: target.account_id)")
    sub.add_argument(
        "--offline",
        action="store_true",
        help="do not read the targets (their layers and KMS keys are then named "
        "by --layer-arn / --kms-key-arn, or by placeholders to replace)",
    )
    sub.add_argument(
        "--layer-arn",
        dest="layer_arns",
        action="append",
        default=[],
        metavar="ARN",
        help="a layer version the targets already carry, when they are not read (repeatable)",
    )
    sub.add_argument(
        "--kms-key-arn",
        dest="kms_key_arns",
        action="append",
        default=[],
        metavar="ARN",
        help="the KMS key of the targets' environment, when they are not read (repeatable)",
    )
    sub.add_argument(
        "--partition",
        choices=["aws", "aws-cn", "aws-us-gov"],
        help="the ARNs' partition (default: the target Region's, or the caller "
        "identity's when the targets are read)",
    )
    target_options(sub)
    journal_option(sub)
    no_janitor_option(sub)


def cmd_iam_policy(arguments: argparse.Namespace) -> int:
    from chaos.experiment import load_experiment
    from chaos.run.permissions import experiment_policy

    experiment = load_experiment(arguments.experiment)
    account_id = arguments.account_id or experiment.target.account_id
    if not account_id and not arguments.offline:
        arguments.sandbox = getattr(arguments, "sandbox", False) or experiment.target.is_sandbox
        try:
            with aws_clients(arguments, experiment.target.region) as clients:
                account_id = clients.caller_account_id()  # whose policy it is: the caller's
        except GamedayError as error:
            raise InputError(
                f"the experiment has no target.account_id and the caller could "
                f"not be identified ({error}): pass --account-id"
            ) from None
    if not account_id:
        raise InputError("the experiment has no target.account_id: pass --account-id")
    options = {
        "journal": arguments.journal,
        "janitor": not arguments.no_janitor,
        "partition": arguments.partition,
        "layer_arns": tuple(arguments.layer_arns),
        "kms_key_arns": tuple(arguments.kms_key_arns),
    }
    if arguments.offline:
        policy = experiment_policy(experiment, account_id, **options)
    else:
        try:
            with aws_clients(arguments, experiment.target.region) as clients:
                policy = experiment_policy(experiment, account_id, clients, **options)
        except GamedayError as error:
            print(
                f"gameday: the targets could not be read ({error}); their layers and KMS "
                "keys are named by --layer-arn / --kms-key-arn or placeholders",
                file=sys.stderr,
            )
            policy = experiment_policy(experiment, account_id, **options)
    print(json.dumps(policy, indent=2))
    return EXIT_PASSED
