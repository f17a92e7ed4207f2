# syntax=docker/dockerfile:1
# socialdesk, the daemon, as a container: a slim Python, the package with its PostgreSQL
# driver, run by an unprivileged user. docs/PRODUCTION.md and compose.yaml show it in use.
#
#   docker build -t socialdesk .
#   docker run --rm socialdesk --help

ARG PYTHON_VERSION=3.11

# ---------------------------------------------------------------- build: a virtualenv
FROM python:${PYTHON_VERSION}-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/socialdesk
WORKDIR /src
COPY pyproject.toml README.md plugin_manifest.json ./
COPY adapters ./adapters
COPY sync ./sync
COPY cli ./cli
COPY sandbox ./sandbox
# The wheel carries plugin_manifest.json inside the sync package (sync/plugin_manifest.json
# links to the copy at the top).
RUN /opt/socialdesk/bin/pip install '.[postgres]'

# ---------------------------------------------------------------- run: the venv alone
FROM python:${PYTHON_VERSION}-slim

RUN groupadd --system --gid 10001 socialdesk \
 && useradd --system --uid 10001 --gid socialdesk --home-dir /var/lib/socialdesk --shell /usr/sbin/nologin \
        socialdesk \
 && install -d -o socialdesk -g socialdesk -m 0700 /var/lib/socialdesk \
 && install -d -m 0755 /etc/socialdesk

COPY --from=build /opt/socialdesk /opt/socialdesk

ENV PATH=/opt/socialdesk/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SOCIALDESK_CONFIG=/etc/socialdesk/mapping.yaml

USER 10001:10001
WORKDIR /var/lib/socialdesk

# The daemon's listener (webhook.listen in the mapping; 8787 unless it says otherwise).
EXPOSE 8787

# Ready: every route running and its services reachable (503 with the reasons otherwise).
# SOCIALDESK_READY_URL overrides the address when the mapping listens elsewhere.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request\ntry:\n    urllib.request.urlopen(os.environ.get('SOCIALDESK_READY_URL', 'http://127.0.0.1:8787/readyz'), timeout=4)\nexcept Exception as err:\n    sys.exit(f'not ready: {err}')"]

ENTRYPOINT ["socialdesk"]
CMD ["run", "--config", "/etc/socialdesk/mapping.yaml", "--log-format", "json"]
