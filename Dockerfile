# Carebridge engine image: the same image runs the API, the MLLP listener and the workers;
# the command chooses (see compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CAREBRIDGE_BIND_HOST=0.0.0.0 \
    CAREBRIDGE_VAR_DIR=/var/lib/carebridge

WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY carebridge ./carebridge
COPY foundation ./foundation
COPY engine ./engine
COPY connectors ./connectors
COPY mappings ./mappings
COPY routes ./routes
COPY simulators ./simulators
COPY config ./config
# Installed in place so the bundled config/ and mapping configs are read from /app. /app is
# root's: everything the engine writes (SQLite, the bundled inbox) is under CAREBRIDGE_VAR_DIR,
# whose inbox/ exists here so a volume mounted on it starts out the engine's.
RUN pip install -e . \
 && useradd --system --home /var/lib/carebridge carebridge \
 && mkdir -p /var/lib/carebridge/inbox \
 && chown -R carebridge /var/lib/carebridge

USER carebridge
EXPOSE 8080 2575
# For the default command (serve, with HTTP); compose.yaml gives its other services their own.
HEALTHCHECK --interval=30s --timeout=5s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"
ENTRYPOINT ["carebridge"]
CMD ["serve"]
