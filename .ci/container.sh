#!/usr/bin/env bash
# CI: build the container image and run it the way production does (docs/deployment.md):
# two replicas on CI's PostgreSQL, the WeCom simulator, a welcome through each replica,
# one leader, a clean stop (scripts/container_smoke.py); then docker-compose.yml with
# podman-compose, the same checks through its nginx (scripts/compose_smoke.py). Any failure
# fails the step (non-zero exit).
#
# On a fresh Debian machine it installs podman, runc and debootstrap, and makes the base
# image the Dockerfile starts FROM with debootstrap when there is none (no registry is
# reachable from the development machines). The base is kept as a tarball in $BOT_CI_CACHE
# between runs and remade when 30 days old, so builds get Debian's security updates.
# More in docs/deployment.md, "Containers".
#
# Usage: bash .ci/container.sh [POSTGRES_URL]   (default: what .ci/postgres.sh prints)
# Needs root (apt, podman) and the project's venv in .venv (made by .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${BOT_CI_IMAGE:-wecom-store-bot:ci}"
BASE=debian:bookworm-slim  # the Dockerfile's FROM, made locally under that name
CACHE="${BOT_CI_CACHE:-/var/cache/wecom-store-bot-ci}"
BASE_TAR="$CACHE/debian-bookworm-minbase.tar"
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt  # TLS to PyPI is re-signed on the way here
PODMAN_COMPOSE_VERSION=1.6.0
MADE_BY=wecom-store-bot-ci  # the label on a base image this script made
STEP_START=$SECONDS

phase() { echo "== container step: $* ($((SECONDS - STEP_START)) s)" >&2; }

install_packages() {
    local missing=()
    for cmd in podman runc debootstrap; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        phase "installing ${missing[*]} from Debian's packages"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
    fi
    # crun (podman's default) refuses this machine's hybrid cgroups, and setting the
    # default ulimits is not permitted here: runc and no default ulimits. Only written when
    # the machine has no containers.conf of its own.
    if [ ! -e /etc/containers/containers.conf ]; then
        mkdir -p /etc/containers
        printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' \
            > /etc/containers/containers.conf
    fi
}

mirror() {  # the mirror apt already uses for $1 (debian or debian-security)
    local url
    url=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/* \
          | grep -oE "https?://[^ ]*/$1/?( |\$)" | head -n 1 | tr -d ' ')
    echo "${url:-http://deb.debian.org/$1}"
}

apt_sources() {  # deb822, as in Docker Hub's debian images
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\n' "$1"
    printf 'Signed-By: %s\n\n' "$keyring"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\n' "$2"
    printf 'Signed-By: %s\n' "$keyring"
}

make_base_image() {
    # A base someone pulled from a registry is theirs: used as it is. Ours carries a label
    # and is remade when its tarball is 30 days old.
    if podman image exists "$BASE"; then
        local made_by
        made_by=$(podman image inspect -f '{{index .Labels "made-by"}}' "$BASE" 2>/dev/null || true)
        if [ "$made_by" != "$MADE_BY" ] || [ -n "$(find "$BASE_TAR" -mtime -30 2>/dev/null)" ]; then
            return
        fi
    fi
    mkdir -p "$CACHE"
    if [ -z "$(find "$BASE_TAR" -mtime -30 2>/dev/null)" ]; then
        local rootfs
        rootfs=$(mktemp -d /var/tmp/bookworm-rootfs.XXXXXX)
        phase "debootstrap bookworm (minbase) from $(mirror debian)"
        debootstrap --variant=minbase bookworm "$rootfs" "$(mirror debian)" >/dev/null
        # As Docker Hub's image has it: point releases and security updates, not only main.
        rm -f "$rootfs/etc/apt/sources.list"
        apt_sources "$(mirror debian)" "$(mirror debian-security)" \
            > "$rootfs/etc/apt/sources.list.d/debian.sources"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -cf "$BASE_TAR.part" .
        mv "$BASE_TAR.part" "$BASE_TAR"
        rm -rf "$rootfs"
    fi
    phase "importing $BASE_TAR as $BASE"
    podman import -q --change "LABEL made-by=$MADE_BY" "$BASE_TAR" "$BASE" >/dev/null
}

build_image() {
    phase "building $IMAGE"
    local before after
    before=$(podman image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
    # --format docker keeps the HEALTHCHECK (the OCI format has no field for it).
    podman build -q --format docker -t "$IMAGE" \
        -v "$CA_BUNDLE:/host-ca.crt:ro" --build-arg PIP_CERT=/host-ca.crt . >/dev/null
    after=$(podman image inspect -f '{{.Id}}' "$IMAGE")
    if [ -n "$before" ] && [ "$before" != "$after" ]; then  # our previous build, untagged now
        podman rmi "$before" >/dev/null 2>&1 || true
    fi
}

podman_compose() {  # from PyPI, in a venv of its own kept with the base image
    local venv="$CACHE/podman-compose-$PODMAN_COMPOSE_VERSION"
    if [ ! -x "$venv/bin/podman-compose" ]; then
        phase "installing podman-compose $PODMAN_COMPOSE_VERSION from PyPI"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q "podman-compose==$PODMAN_COMPOSE_VERSION" >&2
    fi
    echo "$venv/bin/podman-compose"
}

install_packages
make_base_image
build_image
DATABASE_URL="${1:-$(bash .ci/postgres.sh)}"
phase "two replicas, the simulator and PostgreSQL"
.venv/bin/python scripts/container_smoke.py --image "$IMAGE" --database-url "$DATABASE_URL"
COMPOSE=$(podman_compose)
phase "docker-compose.yml with podman-compose (PostgreSQL, nginx, two replicas, simulator)"
.venv/bin/python scripts/compose_smoke.py --compose "$COMPOSE"
phase "passed"
