# syntax=docker/dockerfile:1
# The gameday runner: `gameday` installed from this repository, with its experiments and
# locustfiles, for scheduled game days on ECS Fargate (`gameday schedule PLAN --format
# eventbridge` starts it with the plan's `run` as the container's command).
#
#   docker build -t gameday .
#   docker run --rm gameday run experiments/sandbox/weekly-gameday.yaml --yes
#
# No credentials, no journal bucket and no account are baked in: on ECS the task role
# gives the credentials and the schedule's container override sets GAMEDAY_JOURNAL.

FROM python:3.12-slim AS wheels
# hdrhistogram publishes no arm64 wheel: a compiler builds it here, never in the runner.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY chaos/ chaos/
COPY extension/ extension/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels chaos-gameday
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin gameday \
 && install -d -o gameday -g gameday /app
# Plans name experiments and locustfiles by their paths from the repository root: the same
# layout here, so `gameday run experiments/...` resolves as in a clone or a CI checkout.
WORKDIR /app
COPY --chown=gameday:gameday experiments/ experiments/
COPY --chown=gameday:gameday loadtests/ loadtests/
# Numeric, so that a platform checking runAsNonRoot can tell it is not root.
USER 10001
ENTRYPOINT ["gameday"]
CMD ["--help"]
