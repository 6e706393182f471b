# Production image: one uvicorn process per container; scale out with replicas.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN groupadd --system planner && useradd --system --gid planner --home-dir /app planner

COPY pyproject.toml constraints.txt README.md alembic.ini ./
COPY service ./service
COPY migrations ./migrations
RUN pip install -c constraints.txt . \
    && mkdir -p /app/data && chown planner:planner /app/data

USER planner
EXPOSE 8000
# The service is importable from /app (source) so migrations/ resolves beside it.
ENV PYTHONPATH=/app
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
CMD ["python", "-m", "service", "serve", "--host", "0.0.0.0", "--port", "8000"]
