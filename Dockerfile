# One image for the CLI (and, later, the web service and workers).
# PyAV and opencv-python-headless wheels carry FFmpeg and OpenCV: no system ffmpeg.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY validator ./validator
RUN pip install . && useradd --create-home --uid 10001 appeal
USER appeal
WORKDIR /home/appeal
ENTRYPOINT ["appeal-validator"]
CMD ["--help"]
