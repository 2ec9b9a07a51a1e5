"""`gameday validate`'s warning for a WAF load whose phases are too short to see a block.

`gameday plan` reads the rate-based rule and warns when the phases are shorter than the
time an abusive client takes to cross the rule's limit plus AWS WAF's documented detection
delay (chaos.load.waf_traffic). `validate` reads no AWS, so it cannot know the rule's
evaluation window, and the crossing time depends on nothing else (an abusive client sends
a fixed multiple of the limit per window). Rather than assume a window and warn about
phases that may be long enough, it warns only when the answer is the same for every rule
AWS allows: phases too short even with the shortest evaluation window, 60 s (the
sandbox's rule has exactly that window, so there `validate` and `plan` agree). Between
that and the rule's own need, only `plan` can tell.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from chaos.experiment.loader import documents_with_lines
from chaos.experiment.model import Experiment
from chaos.load.waf import EVALUATION_WINDOWS_S
from chaos.load.waf_traffic import phases_too_short

SHORTEST_WINDOW_S = min(EVALUATION_WINDOWS_S)


def short_waf_phase_warnings(paths: Sequence[Path | str]) -> list[str]:
    """``FILE:LINE:COL: phases: warning: ...`` for each valid experiment under `paths` whose
    abusive WAF clients cannot be seen blocked in its phases, whatever the rule."""
    lines: list[str] = []
    for document, line_of in documents_with_lines(paths):
        warning = _short_for_any_rule(document) if isinstance(document, Experiment) else None
        if warning:
            lines.append(
                line_of(
                    ["phases"],
                    f"warning: {warning} (even with the shortest evaluation window AWS "
                    f"allows, {SHORTEST_WINDOW_S}s; `gameday plan` checks the rule's own)",
                )
            )
    return lines


def _short_for_any_rule(experiment: Experiment) -> str | None:
    load = experiment.load
    if load is None or load.waf is None or not load.waf.abusive_clients:
        return None
    return phases_too_short(experiment.phases.total, SHORTEST_WINDOW_S)
