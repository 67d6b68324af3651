# Petrel's container image: a static binary on a distroless base.
#
#   docker build -t petrel .
#   docker run -d --name petrel -p 25:25 -p 587:587 -p 465:465 -p 143:143 -p 993:993 \
#     -p 110:110 -p 995:995 -p 80:80 -v petrel:/data \
#     -e PETREL_HOSTNAME=mx.example.com -e PETREL_DOMAINS=example.com petrel
#   docker exec -it petrel petrel user add you@example.com
#
# Configuration comes from PETREL_… variables (`petrel config env` lists
# them), from a file mounted at /etc/petrel/petrel.toml, or both, the
# variables winning over the file:
#
#   docker run … -v ./petrel.toml:/etc/petrel/petrel.toml:ro petrel
#
# No flag is needed: the image sets PETREL_CONFIG_OPTIONAL to that path, and
# petrel reads the file named there when it exists and runs on the variables
# alone when it does not (outside the image the variable is unset, so
# nothing changes on a developer's machine). A file names the listeners it
# wants and the others are off, except HTTP, which PETREL_LISTEN_HTTP below
# keeps on :80 for the health check; data_dir is /data whatever the file
# says. Mounting a host file that does not exist makes a directory at the
# mount point, which petrel refuses with a message that says so.
#
# internal/dockercheck tests the facts of this file without Docker: the
# stages, build flags, ports, volume, variables and health check, and that
# the binary built as below starts on this environment and stops on SIGTERM.

# --- build: a static binary (no cgo, so no libc to match at run time).
FROM golang:1.27-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/petrel ./cmd/petrel
# The data directory, owned by the unprivileged user the image runs as, so
# a new named volume starts out writable.
RUN mkdir -p /out/data

# --- run: distroless static has CA certificates and tzdata, no shell, and
# runs as uid 65532. Docker lets unprivileged processes in a container bind
# ports below 1024 (net.ipv4.ip_unprivileged_port_start=0), so 25 and 143
# need no root; with --network host, add that sysctl or run as root.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/petrel /usr/local/bin/petrel
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV PETREL_DATA_DIR=/data \
    PETREL_LISTEN_HTTP=:80 \
    PETREL_CONFIG_OPTIONAL=/etc/petrel/petrel.toml
VOLUME /data
# SMTP, submissions, submission, POP3, POP3S, IMAP, IMAPS, HTTP (autoconfig,
# MTA-STS, /metrics, /healthz).
EXPOSE 25 465 587 110 995 143 993 80
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/petrel", "health"]
ENTRYPOINT ["/usr/local/bin/petrel"]
CMD ["serve"]
