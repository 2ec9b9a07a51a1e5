"""docs/reference.md, generated: every YAML field from the JSON Schema and every SLI from the
catalog, so that the page cannot say what the code does not do.

`python -m chaos.experiment.reference > docs/reference.md` writes it; a test checks that the
committed page is current.
"""

from __future__ import annotations

import json
from typing import Any

from chaos.experiment import json_schema
from chaos.metrics.catalog import CATALOG, Sli

HEADER = """# YAML and SLI reference

Generated from the experiment's JSON Schema (`gameday schema`) and the SLI catalog by
`python -m chaos.experiment.reference > docs/reference.md`; a test fails when this page is
not current. Durations are seconds or a string such as `30s`, `2m`, `1m30s`, `500ms`.
"""

_BOUNDS = (
    ("minimum", ">="),
    ("exclusiveMinimum", ">"),
    ("maximum", "<="),
    ("exclusiveMaximum", "<"),
    ("minLength", "length >="),
    ("maxLength", "length <="),
    ("minItems", "items >="),
    ("maxItems", "items <="),
)


def render_reference() -> str:
    schema = json_schema()
    sections = [HEADER, _render_models(schema.get("$defs", {})), _render_slis()]
    return "\n".join(sections).rstrip() + "\n"


def _render_models(definitions: dict[str, Any]) -> str:
    lines = ["## YAML objects", ""]
    for name in sorted(definitions):
        lines += _render_model(name, definitions[name])
    return "\n".join(lines)


def _render_model(name: str, model: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if model.get("description"):
        lines += [_one_line(model["description"]), ""]
    properties: dict[str, Any] = model.get("properties", {})
    if not properties:
        return [*lines, f"Type: {_type_of(model)}.", ""]
    required = set(model.get("required", ()))
    lines += [
        "| field | type | required | default | bounds | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for field, spec in properties.items():
        default = json.dumps(spec["default"]) if "default" in spec else ""
        lines.append(
            "| "
            + " | ".join(
                (
                    f"`{field}`",
                    _cell(_type_of(spec)),
                    "yes" if field in required else "",
                    _cell(default),
                    _cell(_bounds_of(spec)),
                    _cell(spec.get("description", "")),
                )
            )
            + " |"
        )
    return [*lines, ""]


def _type_of(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        return str(spec["$ref"]).rsplit("/", 1)[-1]
    if "const" in spec:
        return json.dumps(spec["const"])
    if "enum" in spec:
        return " or ".join(json.dumps(value) for value in spec["enum"])
    for combined in ("anyOf", "oneOf"):
        if combined in spec:
            return " or ".join(dict.fromkeys(_type_of(option) for option in spec[combined]))
    kind = spec.get("type", "any")
    if kind == "array":
        return f"list of {_type_of(spec.get('items', {}))}"
    if kind == "object" and isinstance(spec.get("additionalProperties"), dict):
        return f"map of {_type_of(spec['additionalProperties'])}"
    return str(kind)


def _bounds_of(spec: dict[str, Any]) -> str:
    bounds = [f"{sign} {spec[key]}" for key, sign in _BOUNDS if key in spec]
    for combined in ("anyOf", "oneOf"):
        for option in spec.get(combined, ()):
            bounds += [f"{sign} {option[key]}" for key, sign in _BOUNDS if key in option]
    return ", ".join(dict.fromkeys(bounds))


def _render_slis() -> str:
    lines = [
        "## SLIs",
        "",
        "| SLI | measured | phases | live (`abort_when`) | meaning |",
        "|---|---|---|---|---|",
    ]
    lines += [_sli_row(sli) for sli in CATALOG.values()]
    return "\n".join([*lines, ""])


def _sli_row(sli: Sli) -> str:
    phases = {"any": "any phase", "none": "the whole run"}.get(sli.phases, sli.phases)
    return (
        "| "
        + " | ".join(
            (f"`{sli.name}`", sli.family, phases, "yes" if sli.live else "", _cell(sli.description))
        )
        + " |"
    )


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")


if __name__ == "__main__":
    print(render_reference(), end="")
