# Mimamori runtime image. Dependencies come from the lock file in their own layer so that code
# changes do not reinstall them. (No Docker engine runs on the development machines; the image is
# checked in CI elsewhere once the service exists.)
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    MIMAMORI_DATA_DIR=/data

RUN useradd --create-home --uid 10001 mimamori && mkdir -p /data && chown mimamori /data
WORKDIR /app

COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

COPY pyproject.toml README.md ./
COPY mimamori ./mimamori
COPY features ./features
COPY models ./models
COPY training ./training
COPY service ./service
COPY synthetic ./synthetic
RUN pip install --no-deps .

USER mimamori
VOLUME ["/data"]
# The scoring API (`mimamori serve`) becomes the default command when it lands; until then the
# image runs the pipeline stages on demand, e.g. `docker run IMAGE mimamori synth --profile tiny`.
CMD ["mimamori", "--help"]
