# hep-mlbench: the MLPF training benchmark as a HEPscore workload container.
#
#   docker build --build-arg GIT_COMMIT=$(git rev-parse --short=12 HEAD) -t hep-mlbench .
#   mkdir -p results && chmod 1777 results      # the container runs as uid 4242, as HEPscore does
#   docker run --rm --gpus all -v $PWD/results:/results hep-mlbench -W         # default benchmark
#   docker run --rm hep-mlbench --help
#
# Build arguments:
#   BASE_IMAGE     Debian 12 based image of the build stage (default debian:bookworm-slim; an
#                  image with the CUDA 13 toolkit on Debian 12 builds the CUDA path with
#                  CUPTI/NVML; without a toolkit the build is CPU-side only and LibTorch still
#                  trains on GPUs)
#   RUNTIME_IMAGE  Debian 12 based image of the runtime stage (default debian:bookworm-slim; it
#                  needs no CUDA toolkit: the torch wheel brings the CUDA libraries it loads)
#   TORCH_VERSION  the torch wheel (PyPI) whose LibTorch is built against and shipped; its
#                  CUDA decides the NVIDIA driver the image needs (docs/gpu-check.md):
#                    2.15.0 (default, the pin)  CUDA 13.2  driver >= 580
#                    2.11.0                     CUDA 13.0  driver >= 580
#                    2.8.0                      CUDA 12.8  driver >= 525 (>= 570 recommended)
#                  Build 2.8.0 for sites whose drivers predate CUDA 13; its LibTorch's CMake
#                  config needs a CUDA 12 toolkit, so give a BASE_IMAGE that has one
#                  (scripts/setup.sh stops and says so otherwise).
#   SAMPLE_EVENTS  events in the bundled sample (default 2000, ~0.8 GB; smaller for tests)
#   SAMPLE_SHA256  the content checksum the generated sample must have (default: the published
#                  one for 2,000 events, data/README.md; "any" keeps whatever this platform makes)
#   PICKLES        glob of the Delphes pickles inside the build context to convert instead
#   GIT_COMMIT     recorded as the build's checksum, app.bmk_checksum (the context has no .git)
#   PIP_CERT       a CA bundle under scripts/ca/ in the build context for pip, where a proxy
#                  re-signs TLS (scripts/container_test.sh puts the host's there)
ARG BASE_IMAGE=debian:bookworm-slim
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
ARG TORCH_VERSION=2.15.0
ARG SAMPLE_EVENTS=2000
ARG SAMPLE_SHA256=
ARG PICKLES=
ARG GIT_COMMIT=unknown
ARG PIP_CERT=
ENV DEBIAN_FRONTEND=noninteractive \
    HEP_MLBENCH_VENV=/opt/hep-mlbench/venv \
    PIP_NO_CACHE_DIR=1
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The same scripts CI runs: set-up (apt + torch wheel) first, in a layer of its own that a
# rebuild reuses while the set-up script and the pins stay the same; then the release build.
# HMB_VENV names the environment by its real path, so the binary's run path holds no link that
# the runtime stage lacks.
COPY scripts/setup.sh scripts/requirements.txt /src/scripts/
COPY scripts/ca/ /src/scripts/ca/
RUN if [ -n "${PIP_CERT}" ]; then export PIP_CERT=/src/${PIP_CERT}; fi \
 && HMB_TORCH_VERSION="${TORCH_VERSION}" scripts/setup.sh
COPY . /src
RUN cmake --preset release -DHMB_GIT_COMMIT="${GIT_COMMIT}" -DHMB_VENV="${HEP_MLBENCH_VENV}" \
 && scripts/build.sh release \
 && install -D build/release/src/hep-mlbench /opt/hep-mlbench/bin/hep-mlbench
# The bundled sample: converted when pickles are given, else generated with the fixed seed.
RUN HMB_BIN=/opt/hep-mlbench/bin/hep-mlbench HMB_PICKLES="${PICKLES}" HMB_SAMPLE_SHA256="${SAMPLE_SHA256}" \
    scripts/make_sample.sh /opt/hep-mlbench/data/sample.h5 "${SAMPLE_EVENTS}"
# Keep only the shared libraries the binary loads (LibTorch and the wheel's CUDA libraries),
# at the same absolute paths its run path names.
RUN SP=$(echo /opt/hep-mlbench/venv/lib/python3*/site-packages) \
 && mkdir -p /opt/runtime$SP \
 && cp -a $SP/torch /opt/runtime$SP/ && rm -rf /opt/runtime$SP/torch/include /opt/runtime$SP/torch/share \
 && find /opt/runtime$SP/torch -name '*.py*' -delete \
 && (cp -a $SP/nvidia /opt/runtime$SP/ 2>/dev/null || true) \
 && cp -a /opt/hep-mlbench/bin /opt/hep-mlbench/data /opt/runtime/opt/hep-mlbench/ \
 && cp /src/docs/summary.schema.json /src/README.md /opt/runtime/opt/hep-mlbench/

FROM ${RUNTIME_IMAGE} AS runtime
ARG GIT_COMMIT=unknown
ARG TORCH_VERSION=2.15.0
LABEL org.opencontainers.image.title="hep-mlbench" \
      org.opencontainers.image.description="MLPF (gnn_lsh) training benchmark for HEPscore" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.source="hep-mlbench" \
      hep-mlbench.torch-version="${TORCH_VERSION}"
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends libhdf5-103-1 libspdlog1.10 libfmt9 libyaml-cpp0.7 \
      libssl3 libgomp1 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/runtime/ /
# The NVIDIA container runtime injects the driver's libraries for these capabilities.
ENV HMB_DATA=/opt/hep-mlbench/data/sample.h5 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
# A library the binary needs but the runtime stage lacks fails the build here, not at a site.
RUN /opt/hep-mlbench/bin/hep-mlbench --version
# HEPscore runs the container as a non-root user with /results, /tmp and /var/tmp writable;
# /tmp, its home, is bound from the host on every run.
RUN useradd --uid 4242 --no-create-home --home-dir /tmp hep-mlbench \
 && mkdir -p /results && chmod 1777 /results
USER 4242
WORKDIR /tmp
ENTRYPOINT ["/opt/hep-mlbench/bin/hep-mlbench", "workload"]
CMD []
