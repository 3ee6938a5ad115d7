# syntax=docker/dockerfile:1.7
#
# The CloudGrid image: the one `cloudgrid` binary and the built web UI. Every service
# runs from it; the target is the first argument (`all` when none is given; the Helm
# chart passes `bff`, `collector`, `control-plane`, `storage-read`, `storage-write` or
# `maintenance`).
#
# Build (BuildKit):
#   docker buildx build -t cloudgrid:dev \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
# The binary and the UI alone, as the release tarball holds them:
#   docker buildx build --target dist --output type=local,dest=out .
#
# Run on one machine (`all`, local mode): local mode has no login and listens on
# 127.0.0.1, which inside a container nothing outside reaches. Bind its listeners to the
# container's interfaces and publish them on the host's loopback only:
#   docker run --rm -v cloudgrid-data:/data \
#     -e CLOUDGRID_BFF_ADDR=0.0.0.0:8080 -e CLOUDGRID_OTLP_HTTP_ADDR=0.0.0.0:4318 \
#     -e CLOUDGRID_OTLP_GRPC_ADDR=0.0.0.0:4317 -e CLOUDGRID_ADMIN_ADDR=0.0.0.0:9464 \
#     -e CLOUDGRID_PUBLIC_URL=http://127.0.0.1:8080 \
#     -p 127.0.0.1:8080:8080 -p 127.0.0.1:4318:4318 -p 127.0.0.1:4317:4317 cloudgrid:dev
# (CloudGrid warns at start that local mode listens beyond loopback: here that is the
# container's network, reached only through the ports published on 127.0.0.1.)

ARG RUST_VERSION=1.95
ARG NODE_VERSION=20
ARG DEBIAN_RELEASE=bookworm

# --- the web UI (bff/ui) -------------------------------------------------------------
# What build.rs runs for `cargo build` (npm ci, then npm run build: type check and Vite),
# in a stage of its own. Its output is the same on every platform, so it is built once,
# on the build machine's own platform.
FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim AS ui
WORKDIR /src/bff/ui
COPY bff/ui/package.json bff/ui/package-lock.json ./
RUN --mount=type=cache,id=cloudgrid-npm,target=/var/cache/npm,sharing=locked \
    npm ci --cache /var/cache/npm --no-audit --no-fund --loglevel=error
COPY bff/ui/ ./
RUN npm run build

# --- the binary ----------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
ARG TARGETARCH
WORKDIR /src
# The UI comes from the stage above, so build.rs does not need npm here.
ENV CLOUDGRID_SKIP_UI_BUILD=1 \
    CARGO_TERM_COLOR=never
COPY . .
# The registry and the target directory are BuildKit caches: a rebuild compiles only what
# changed. The target directory is a cache, not a layer, so the binary is copied out of it.
RUN --mount=type=cache,id=cloudgrid-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=cloudgrid-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=cloudgrid-target-${TARGETARCH},target=/src/target,sharing=locked \
    cargo build --release --locked --bin cloudgrid \
 && install -D -m 0755 target/release/cloudgrid /out/cloudgrid \
 && install -d -m 0750 -o 65532 -g 65532 /out/data

# --- the release tarball's contents (`--target dist --output type=local,dest=DIR`) ------
FROM scratch AS dist
COPY --from=build /out/cloudgrid /cloudgrid
COPY --from=ui /src/bff/ui/dist /ui

# --- the runtime image ---------------------------------------------------------------
# glibc and libgcc (what the binary links) and CA certificates; no shell, no package
# manager. User 65532 is the chart's podSecurityContext.runAsUser.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=
LABEL org.opencontainers.image.title="CloudGrid" \
      org.opencontainers.image.description="OpenTelemetry (OTLP) ingest, incremental metric rollups and alerts, GraphQL and a web UI: one binary, a subcommand per service" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="CloudGrid"
COPY --from=build /out/cloudgrid /usr/local/bin/cloudgrid
COPY --from=ui /src/bff/ui/dist /usr/share/cloudgrid/ui
# Embedded storage and the bootstrap key of local mode; services mode with a SurrealDB
# server writes nothing here (the chart's root filesystem is read-only).
COPY --from=build --chown=65532:65532 /out/data /data
ENV CLOUDGRID_DATA_DIR=/data \
    CLOUDGRID_UI_DIR=/usr/share/cloudgrid/ui
WORKDIR /data
USER 65532:65532
# OTLP/gRPC, OTLP/HTTP, control-plane and storage-read internal gRPC, storage-write's
# timely cluster port (the chart's default), the BFF (GraphQL and the UI), health and metrics.
EXPOSE 4317 4318 4320 4321 4330 8080 9464
ENTRYPOINT ["/usr/local/bin/cloudgrid"]
CMD ["all"]
