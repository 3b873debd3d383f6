# One image for the service (gunicorn) and the CLI.
# PyAV and opencv-python-headless wheels carry FFmpeg and OpenCV: no system ffmpeg.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 APPEAL_VALIDATOR_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY validator ./validator
RUN pip install ".[server]" && useradd --create-home --uid 10001 appeal && mkdir -p /data && chown appeal /data
USER appeal
WORKDIR /home/appeal
VOLUME /data
EXPOSE 8000
# The web processes only enqueue: one worker beside them runs the analyses (an SQLite
# broker in /data), niced so that the CPU-bound analyses never slow the status polls.
# docker-compose.yml runs gunicorn alone, with Redis and worker containers.
CMD ["sh", "-c", "nice -n 10 appeal-validator worker --concurrency 1 & exec gunicorn --workers 2 --threads 8 --timeout 600 --bind 0.0.0.0:8000 'validator.web:create_app()'"]
