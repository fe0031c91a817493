# Mimamori scoring service image: `mimamori serve` behind uvicorn, as a non-root user.
#
#   docker build -t mimamori .
#   docker run -p 8000:8000 -v /srv/mimamori:/data \
#     -e MIMAMORI_DATABASE_URL=postgresql+psycopg://mimamori@db/mimamori \
#     -e MIMAMORI_MLFLOW_TRACKING_URI=http://mlflow:5000 \
#     -e MIMAMORI_PSEUDONYM_KEY=... -e MIMAMORI_ENVIRONMENT=production mimamori
#
# Environment (all optional except the key in production; see docs/deployment.md):
#   MIMAMORI_DATA_DIR              working folder (feature store under features/); default /data
#   MIMAMORI_DATABASE_URL          SQLAlchemy URL of the store; default SQLite in the data folder
#   MIMAMORI_MLFLOW_TRACKING_URI   MLflow tracking/registry; default SQLite in the data folder
#   MIMAMORI_PSEUDONYM_KEY         keyed-hash secret for child_ids; refused if left at the default
#   MIMAMORI_ENVIRONMENT           development | production | test
#
# The image holds only what serving needs: the service, the models it loads, the feature code it
# reads the store with, and the CLI. Training, the synthetic generator, notebooks, tests and
# benchmarks stay out; a training image would add training/.
FROM python:3.11-slim-bookworm AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true \
    MIMAMORI_DATA_DIR=/data

# LightGBM needs the OpenMP runtime and WeasyPrint (the reports' PDF) needs Pango; the slim
# image has neither. No Japanese font package: the font comes from a pinned PyPI package.
RUN apt-get update \
    && apt-get install --no-install-recommends -y \
       libgomp1 libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 mimamori \
    && mkdir -p /data && chown mimamori /data
WORKDIR /app

# Dependencies first, from the lock file, so a code change does not reinstall them.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

COPY pyproject.toml README.md ./
COPY mimamori ./mimamori
COPY features ./features
COPY models ./models
COPY service ./service
RUN pip install --no-deps . && rm -rf /app/build

USER mimamori
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
CMD ["mimamori", "serve", "--host", "0.0.0.0", "--port", "8000"]
