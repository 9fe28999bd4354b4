# seqserve images, from Debian's Python 3.11:
#   --target api     the service (what compose's `api` runs): venv + app/ + model/, non-root, `python -m app`
#   --target train   the training job (compose's `train`): the api image + training extras + training/
#
#   docker build --target api -t seqserve:cpu .                          # CPU torch, PyTorch's CPU index
#   docker build --target api -t seqserve:cuda \
#       --build-arg TORCH_INDEX_URL=https://pypi.org/simple .            # PyPI's Linux torch is the CUDA build
#   docker build --target api -t seqserve:cpu --build-arg TORCH_FIND_LINKS=/wheels .   # torch from ./wheels
#
# Docker Engine 20.10's classic builder builds every stage up to the target, so `train` comes last and
# building the API never installs the training extras. No BuildKit-only syntax (RUN --mount, heredocs).

FROM debian:bookworm-slim AS base
ENV LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin seqserve

# ---- build: one virtual environment with torch and the service's dependencies -------------------------
FROM base AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /venv \
    && /venv/bin/pip install --upgrade pip
# (Debian's bundled pip 23.0 builds sdists such as seqeval the legacy way, through setup_requires, which
# fails with today's setuptools_scm; a current pip builds them in an isolated PEP 517 environment.)
ENV PATH=/venv/bin:$PATH

# torch first, pinned, so that nothing installed later replaces the chosen build. In order of preference:
# a torch wheel in the build context's wheels/ (TORCH_FIND_LINKS=/wheels, or any torch-VERSION wheel found
# there: CI drops the machine's wheel in), else TORCH_INDEX_URL (PyTorch's CPU index by default), else,
# when that index cannot be reached, PyPI's Linux build (it carries CUDA: much larger, but it runs on CPU).
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_FIND_LINKS=
COPY wheels/ /wheels/
RUN links="$TORCH_FIND_LINKS"; \
    if [ -z "$links" ] && ls /wheels/torch-"$TORCH_VERSION"*.whl >/dev/null 2>&1; then links=/wheels; fi; \
    if [ -n "$links" ]; then \
        pip install --no-index --no-deps --find-links "$links" "torch==$TORCH_VERSION" \
        && pip install --find-links "$links" "torch==$TORCH_VERSION"; \
    else \
        pip install --retries 1 --timeout 20 --index-url "$TORCH_INDEX_URL" "torch==$TORCH_VERSION" \
        || { echo "torch index $TORCH_INDEX_URL unreachable: taking torch from PyPI"; pip install "torch==$TORCH_VERSION"; }; \
    fi \
    && python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" \
    && cd /venv/lib/python3.11/site-packages/torch \
    && rm -rf test include bin/*Test bin/test_* bin/protoc*
# (C++ test binaries, headers and protoc: ~190 MB that serving and eager training never use; headers
# matter only to C++ extensions and torch.compile.)

# The dependency lists live only in pyproject.toml: read them from there (tomllib is in Python 3.11).
COPY pyproject.toml /src/pyproject.toml
RUN cd /src \
    && python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
open('requirements.txt', 'w').write('\n'.join(p['dependencies']) + '\n'); \
open('requirements-train.txt', 'w').write('\n'.join(p['optional-dependencies']['train']) + '\n')" \
    && echo "torch==$TORCH_VERSION" > constraints.txt \
    && pip install -c constraints.txt -r requirements.txt

# ---- source: code and bundles, owned by root and readable by all ------------------------------------
# Normalised here, so a bundle folder left 0700 (export writes through mkdtemp) cannot lock out the
# non-root service user, and copied into the images as one layer each.
FROM base AS source
WORKDIR /app
COPY app/ app/
COPY model/ model/
COPY training/ training/
RUN chown -R root:root /app \
    && chmod -R u=rwX,go=rX /app \
    && python3 -m compileall -q /app

# ---- api: the service --------------------------------------------------------------------------------
FROM base AS api
COPY --from=build /venv /venv
# OMP_NUM_THREADS=1: one intra-op thread per worker is what the service wants on CPU (it also calls
# torch.set_num_threads(SEQSERVE_TORCH_THREADS)); more workers, not more threads, use more cores.
ENV PATH=/venv/bin:$PATH \
    PYTHONPATH=/app \
    OMP_NUM_THREADS=1 \
    SEQSERVE_MODEL_DIR=/app/model
WORKDIR /app
COPY --from=source /app/app app/
COPY --from=source /app/model model/
USER 10001:10001
EXPOSE 8000
# Ready = bundles loaded and warmed (GET /readyz answers 200; urlopen raises on 503).
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('SEQSERVE_PORT', '8000'), timeout=4)"]
# Exec form: python is PID 1 and receives SIGTERM itself; uvicorn then drains (graceful shutdown bounded
# by SEQSERVE_REQUEST_TIMEOUT_S + 1 s). `python -m app` honours SEQSERVE_WORKERS (default 1).
CMD ["python", "-m", "app"]

# ---- train: the training job (never the API) ---------------------------------------------------------
FROM api AS train
USER root
COPY --from=build /src/requirements-train.txt /src/constraints.txt /src/
RUN pip install -c /src/constraints.txt -r /src/requirements-train.txt
COPY --from=source /app/training training/
# The job may run as the host user (compose sets `user:`), who has no home in the image.
ENV HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib
USER 10001:10001
HEALTHCHECK NONE
ENTRYPOINT ["python", "-m", "training"]
CMD ["--help"]
