# The pipeline image: the worker and the provider stub (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . .
# Editable on purpose: schemas/ and models/ sit next to the package (the checkout layout the
# code looks for first), so they stay where the code finds them. /app stays root-owned, so the
# running user cannot modify the code or the schemas.
RUN pip install -e ".[models]"

# Run unprivileged; the home directory holds the relative paths the settings default to
# (e.g. var/audit-archive).
RUN useradd --system --uid 10001 --create-home --home-dir /home/phi phi \
    && mkdir -p /home/phi/keys && chown phi /home/phi/keys && chmod 700 /home/phi/keys
USER phi
WORKDIR /home/phi

ENTRYPOINT ["phi-pipeline"]
CMD ["worker"]
