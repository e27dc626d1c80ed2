# syntax=docker/dockerfile:1
#
# ringproxy in a container.
#
# io_uring: Docker's default seccomp profile blocks io_uring_setup,
# io_uring_enter and io_uring_register, so ringproxy cannot start under it.
# Run with the bundled profile (Docker's default plus the io_uring calls):
#
#   docker build -t ringproxy .
#   docker run --rm --security-opt seccomp=scripts/seccomp-io_uring.json \
#       -p 8080:8080 -v "$PWD/my.cfg:/etc/ringproxy/ringproxy.cfg:ro" ringproxy
#
# (or --security-opt seccomp=unconfined). The default configuration is
# examples/demo.cfg listening on all addresses; see README.md, "Docker".

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --bins \
    && install -D -m 0755 -t /out target/release/ringproxy target/release/ringproxy-demo-backend

FROM debian:bookworm-slim
COPY --from=build /out/ /usr/local/bin/
COPY examples/ /usr/share/doc/ringproxy/examples/
# The demo configuration, reachable from outside the container.
RUN mkdir -p /etc/ringproxy \
    && sed 's/^\([[:space:]]*bind[[:space:]]\{1,\}\)127\.0\.0\.1:/\10.0.0.0:/' \
        /usr/share/doc/ringproxy/examples/demo.cfg >/etc/ringproxy/ringproxy.cfg \
    && useradd --system --no-create-home --shell /usr/sbin/nologin ringproxy
USER ringproxy
EXPOSE 8080
ENTRYPOINT ["ringproxy"]
CMD ["-f", "/etc/ringproxy/ringproxy.cfg"]
