# The MKA1 Conversations service as a container: slim, non-root, the console script as entry
# point. How to run it (SQLite, or PostgreSQL with several processes): docs/deploy.md.
# tests/test_deploy.py checks this file against the CLI, the settings and the docs.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/mka1 mka1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER mka1
WORKDIR /var/lib/mka1
ENV MKA1_DATABASE_URL=sqlite:////var/lib/mka1/data/mka1.db \
    MKA1_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/mka1/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
ENTRYPOINT ["mka1-conversations"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
