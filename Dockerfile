# wagate serve in a container: the REST API, Socket.IO, SSE and the dashboard.
#
#   docker build -t wagate .
#   docker run -p 8000:8000 -e WAGATE_SECRET=... -v wagate-data:/data wagate serve
#
# Every option of `wagate serve` is also a WAGATE_ variable (see docs/production.md);
# this image listens on all interfaces and keeps its data in /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# The locked versions; the webhooks extra for --webhook (httpx alone lacks sniffio).
COPY constraints.txt pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install --constraint constraints.txt ".[fastapi,redis,postgres,webhooks,metrics]" \
    && rm -rf /src

# Never root: the sessions are credentials, and the server needs no privilege.
RUN useradd --system --create-home --uid 10001 --user-group wagate \
    && install -d -o wagate -g wagate -m 0700 /data
USER wagate
WORKDIR /data

ENV WAGATE_HOST=0.0.0.0 \
    WAGATE_PORT=8000 \
    WAGATE_DATA_DIR=/data \
    WAGATE_LOG_FORMAT=json
EXPOSE 8000
VOLUME ["/data"]

# Ready: the gateway's store (and, in a cluster, Redis) answer.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('WAGATE_PORT', '8000'), timeout=4)"

ENTRYPOINT ["wagate"]
CMD ["serve"]
