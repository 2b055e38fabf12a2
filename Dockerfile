# Latch in a container: built with the README's build command, run as a non-root user on a slim
# base, the SQLite database (if used) under the /var/lib/latch volume.
#
#   docker build -t latch .
#   docker run -p 127.0.0.1:8080:8080 -v latch-data:/var/lib/latch latch
#
# For PostgreSQL see docker-compose.yml; for production settings see docs/deploy.md.

FROM rust:1.94-slim-bookworm AS build
WORKDIR /src
COPY . .
# The commit for latch_build_info (there is no .git in the build context).
ARG LATCH_BUILD_COMMIT=unknown
RUN cargo build --release --locked -p latch

FROM debian:bookworm-slim
# curl for the HEALTHCHECK only; CA certificates for back-channel logout over https.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/latch --shell /usr/sbin/nologin latch \
 && mkdir -p /var/lib/latch \
 && chown latch:latch /var/lib/latch
COPY --from=build /src/target/release/latch /usr/local/bin/latch
USER 10001:10001
WORKDIR /var/lib/latch
ENV LATCH_LISTEN=0.0.0.0:8080 \
    LATCH_DATABASE_URL=sqlite:///var/lib/latch/latch.db \
    LATCH_METRICS_LISTEN=0.0.0.0:9464 \
    LATCH_LOG_FORMAT=json
VOLUME ["/var/lib/latch"]
EXPOSE 8080 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/latch"]
CMD ["serve"]
