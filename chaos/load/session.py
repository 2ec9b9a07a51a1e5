"""The load of one run: resolve endpoint, locustfile and WAF plan at preflight; drive it.

Never imports Locust: the driver runs it in its own processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chaos.errors import InputError, PreflightRefused
from chaos.load.driver import LoadDriver, resolve_locustfile
from chaos.load.waf import RateRule, discover_rate_rule
from chaos.load.waf_traffic import WafTrafficPlan, describe_load, plan_waf_traffic
from chaos.sandbox.process import control as sandbox_control

if TYPE_CHECKING:
    from collections.abc import Callable

    from chaos.aws import AwsClients
    from chaos.experiment import Experiment, Load
    from chaos.metrics.rows import SecondRow


@dataclass
class LoadSession:
    load: Load
    host: str
    locustfile: Path
    experiment_path: Path
    max_run_time_s: float
    rule: RateRule | None = None
    waf_plan: WafTrafficPlan | None = None
    driver: LoadDriver | None = field(default=None, repr=False)

    @classmethod
    def prepare(
        cls,
        experiment: Experiment,
        experiment_path: Path,
        clients: AwsClients,
        *,
        sandbox: bool,
        api_endpoint: str | None,
    ) -> LoadSession | None:
        """Everything checked before any change; None when the experiment has no load.

        `clients` reach the target (its WAF), `api_endpoint` is the sandbox's HTTP front.
        """
        load = experiment.load
        if load is None:
            return None
        host = load_host(experiment, sandbox=sandbox, api_endpoint=api_endpoint)
        locustfile = resolve_locustfile(load.locustfile, experiment_path)
        session = cls(load, host, locustfile, experiment_path, experiment.max_duration)
        if load.waf is not None:
            stage_arn = None
            if sandbox:
                state = sandbox_control.read_state()
                stage_arn = state.service.get("stage_arn") if state else None
            session.rule = discover_rate_rule(
                clients.client("wafv2"),
                load.waf.rule,
                web_acl=load.waf.web_acl,
                resource_arn=stage_arn,
                endpoint=host,
            )
            session.waf_plan = plan_waf_traffic(
                session.rule, load.waf, workers=load.workers, run_s=experiment.phases.total
            )
        return session

    def describe(self) -> list[str]:
        return [f"load target: {self.host}", *describe_load(self.load, self.waf_plan)]

    def start(self, on_row: Callable[[SecondRow], None], run_dir: Path) -> None:
        self.driver = LoadDriver(
            self.load,
            host=self.host,
            run_dir=run_dir,
            max_run_time_s=self.max_run_time_s,
            waf_plan=self.waf_plan,
            on_row=on_row,
            experiment_path=self.experiment_path,
        )
        self.driver.start()

    def on_recovery(self) -> None:
        """Abusive clients slow down to a legit pace so the unblock can be seen."""
        if self.driver is not None and self.waf_plan is not None and self.waf_plan.measure_unblock:
            self.driver.stop_abusive()

    def stop(self) -> None:
        if self.driver is not None:
            self.driver.stop()

    @property
    def abusive_stopped_at(self) -> float | None:
        """When the abusive WAF clients dropped to a legit pace (None: they never did)."""
        return self.driver.abusive_stopped_at if self.driver is not None else None


def load_host(experiment: Experiment, *, sandbox: bool, api_endpoint: str | None) -> str:
    """The base URL Locust sends requests to (the API stage URL)."""
    if sandbox:
        if not api_endpoint:
            raise PreflightRefused(
                "the sandbox has no HTTP front: this experiment's load "
                "needs `gameday sandbox up` of this version"
            )
        return api_endpoint
    endpoint = experiment.target.endpoint
    if not endpoint or endpoint == "sandbox":
        raise InputError("target.endpoint: an https URL of the API stage is required for load")
    return endpoint.rstrip("/")
