"""AWS Lambda's data plane and the control-plane behaviour moto lacks.

- :mod:`.configuration` - a function version as the data plane sees it (code, layers,
  subnets, alias routing) and the target an invocation names;
- :mod:`.invoke` - the synchronous invoke path (function, alias or version);
- :mod:`.async_invoke` - asynchronous invokes: the event queue, retries, destinations;
- :mod:`.pool` - execution environments per version, placed by AZ, with concurrency;
- :mod:`.control_plane` - updates that take time, RevisionId, immutable versions;
- :mod:`.local` - one execution environment: the Runtime and Extensions APIs on
  127.0.0.1 with the real runtime clients.
"""
