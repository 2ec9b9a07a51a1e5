"""The embedded sandbox: a local AWS (moto plus the data plane moto lacks) on 127.0.0.1.

One subpackage per AWS service it emulates, and the process that holds them:

- :mod:`~chaos.sandbox.process` - the background process, its state file and the
  ``gameday sandbox`` commands (:mod:`chaos.sandbox.process.control`, the one module the
  rest of the toolkit imports), moto made as strict as AWS;
- :mod:`~chaos.sandbox.apigateway` - the REST API stage's HTTP front and integrations;
- :mod:`~chaos.sandbox.functions` - Lambda: invoke paths, execution environments per
  version and AZ, the control plane's timing, async invokes; ``functions.local`` is the
  Runtime and Extensions API on loopback;
- :mod:`~chaos.sandbox.capacity` - ECS tasks and Auto Scaling instances over AZs, and each
  subnet's network path;
- :mod:`~chaos.sandbox.waf` - AWS WAF web ACL evaluation and rate-based rules;
- :mod:`~chaos.sandbox.cloudwatch` - metrics published with CloudWatch's lag, alarms;
- :mod:`~chaos.sandbox.eventbridge` - EventBridge Scheduler's one-time schedules;
- :mod:`~chaos.sandbox.demo` - the demo service seeded at start (and its janitor).

:mod:`chaos.sandbox.realism` is the one setting they share (``fast`` or ``aws``);
:mod:`chaos.sandbox.http_body` reads request bodies for every loopback HTTP server;
:mod:`chaos.sandbox.wsgi` is what the middlewares in front of moto are written against.
"""
