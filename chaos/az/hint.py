"""Turn "an AZ name was given" errors into the account's own answer: which AZ ID it is."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager

from chaos.aws import AwsClients
from chaos.az.mapping import az_mapping
from chaos.errors import InputError

_AZ_NAME_ERROR = re.compile(r"not an AZ name \((?P<name>[a-z]{2}(?:-[a-z]+)+-\d+[a-z])\)")


def explain_az_names(
    error: InputError, clients_for: Callable[[str], AbstractContextManager[AwsClients]]
) -> InputError:
    """The same error, each AZ-name line completed with the mapping of the target account.

    `clients_for(region)` connects to the target; if the lookup fails the error is
    returned as it was (the offline message already says to run `gameday az-map`).
    """
    lines = str(error).splitlines()
    if not any(_AZ_NAME_ERROR.search(line) for line in lines):
        return error
    explained = []
    for line in lines:
        match = _AZ_NAME_ERROR.search(line)
        if match:
            line = line + "; " + _mapping_hint(match["name"], clients_for)
        explained.append(line)
    return InputError("\n".join(explained))


def _mapping_hint(
    name: str, clients_for: Callable[[str], AbstractContextManager[AwsClients]]
) -> str:
    region = name.rstrip("abcdefghijklmnopqrstuvwxyz")
    try:
        with clients_for(region) as clients:
            zones = az_mapping(clients)
    except Exception:  # noqa: BLE001 - a hint, never a new failure
        return f"could not read the {region} mapping of this account"
    mapping = ", ".join(f"{zone.name}={zone.zone_id}" for zone in zones)
    meant = next((zone.zone_id for zone in zones if zone.name == name), None)
    probably = f"in this account {name} is {meant} (az_id: {meant}); " if meant else ""
    return f"{probably}mapping: {mapping}"
