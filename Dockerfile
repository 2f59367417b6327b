# syntax=docker/dockerfile:1
#
# Keyway: one image for every role.
#   docker build -t keyway .
#   docker run --rm -p 8080:8080 keyway                     # keyway up (dev: in-process mock)
#   docker run --rm keyway run gateway|keys|projector        # one service
#   docker run --rm -p 8090:8090 keyway mock-llm --listen 0.0.0.0:8090
#
# Migrations and the dev model catalog are compiled into the binary, so the
# runtime image holds only the binary.

############################ build ############################
FROM rust:1-bookworm AS builder
WORKDIR /src

COPY . .

# BuildKit cache mounts keep the crates.io download and the target dir between
# builds; the binary is copied out of the cached target dir in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p keyway \
 && install -D -m 0755 target/release/keyway /out/keyway

############################ runtime ############################
FROM debian:bookworm-slim AS runtime

# ca-certificates: TLS to upstream LLM APIs, KMS and OIDC providers.
# curl: container health checks (GET /healthz, /readyz).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

# A fixed, non-root uid/gid so volume ownership is predictable.
RUN groupadd --system --gid 10001 keyway \
 && useradd --system --uid 10001 --gid keyway --home-dir /var/lib/keyway \
      --no-create-home --shell /usr/sbin/nologin keyway \
 && install -d -o keyway -g keyway -m 0700 /var/lib/keyway

COPY --from=builder /out/keyway /usr/local/bin/keyway

# Containers listen on all interfaces; the data dir (local KMS master key,
# dev admin key, usage-event spool) is a volume that must outlive the container.
ENV KEYWAY_LISTEN=0.0.0.0:8080 \
    KEYWAY_DATA_DIR=/var/lib/keyway \
    KEYWAY_LOG_FORMAT=json

VOLUME ["/var/lib/keyway"]
WORKDIR /var/lib/keyway
USER 10001:10001
EXPOSE 8080

ENTRYPOINT ["keyway"]
CMD ["up"]
