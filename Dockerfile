# CPU image by default. For CUDA training:
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu130 -t ct-corpus:cuda .
# and run it with `--gpus all` (the torch CUDA wheels bring their own runtime; the host needs the driver).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 \
    CORPUS_RECIPES=/opt/ct-corpus/manifests/recipes

WORKDIR /opt/ct-corpus
COPY pyproject.toml constraints.txt README.md ./
COPY corpus ./corpus
COPY ctssl ./ctssl
COPY manifests ./manifests

# torch first, from the chosen index (CPU or a CUDA build of the pinned version).
RUN pip install --index-url "${TORCH_INDEX}" "$(grep -E '^torch==' constraints.txt)" \
 && pip install -c constraints.txt ".[train]"

RUN useradd --create-home corpus
USER corpus
WORKDIR /data
ENTRYPOINT ["corpus"]
CMD ["--help"]
