# Backrunner-compatible proxy. Build:  docker build -t backrunner .
# With the Elliptics backend (needs the distribution's elliptics-dev and
# elliptics-client packages):  docker build --build-arg ELLIPTICS=1 -t backrunner .
# Run:  docker run -p 9090:9090 -v backrunner-data:/var/lib/backrunner backrunner

FROM rust:1-bookworm AS build
ARG ELLIPTICS=0
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && if [ "$ELLIPTICS" = "1" ]; then apt-get install -y --no-install-recommends elliptics-dev; fi \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN if [ "$ELLIPTICS" = "1" ]; then features="--features elliptics"; else features=""; fi \
    && cargo build --release --locked $features \
    && install -m 755 target/release/backrunner target/release/bmeta /usr/local/bin/

FROM debian:bookworm-slim
ARG ELLIPTICS=0
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl3 ca-certificates curl \
    && if [ "$ELLIPTICS" = "1" ]; then apt-get install -y --no-install-recommends elliptics-client; fi \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system backrunner \
    && useradd --system --gid backrunner --home-dir /var/lib/backrunner --shell /usr/sbin/nologin backrunner \
    && install -d -o backrunner -g backrunner -m 0750 /var/lib/backrunner
COPY --from=build /usr/local/bin/backrunner /usr/local/bin/bmeta /usr/bin/
COPY packaging/docker/backrunner.json /etc/backrunner/backrunner.json
COPY packaging/buckets.txt /etc/backrunner/buckets.txt
USER backrunner
VOLUME ["/var/lib/backrunner"]
EXPOSE 9090
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD curl -fsS http://127.0.0.1:9090/ping/ || exit 1
ENTRYPOINT ["/usr/bin/backrunner"]
CMD ["-config", "/etc/backrunner/backrunner.json", "-buckets", "/etc/backrunner/buckets.txt"]
