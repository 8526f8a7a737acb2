#!/usr/bin/env bash
# Builds the root file system tarballs the container tests import as images, from the Debian archive only
# (this machine is offline otherwise), and caches them under the repository's .cache/images (gitignored,
# owned by whoever runs the tests, 0700), keyed by everything that goes into them.
#   test/images/build.sh mpi       Debian bookworm: python3, OpenMPI, mpi4py, sshd, procps
#   test/images/build.sh busybox   busybox-static only (a 2 MB image for fast tests)
# Prints the tarball's path. Needs root (mmdebstrap in root mode) for `mpi`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${MULTINODE_IMAGE_CACHE:-$here/../../.cache/images}
mkdir -p "$cache"
chmod 0700 "$cache" "$(dirname "$cache")" 2>/dev/null || true
kind=${1:?usage: build.sh mpi|busybox}
mpi_packages=(python3-mpi4py openmpi-bin openssh-server openssh-client procps)
recipe_version=1
case $kind in
  mpi)
    key=$( { echo "$recipe_version"; printf '%s\n' "${mpi_packages[@]}"; cat "$0"; } | sha256sum | cut -c1-16)
    out=$cache/mpi-$key.tar
    [[ -s $out ]] && { echo "$out"; exit 0; }
    tmp=$(mktemp -d "$cache/build.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    include=$(IFS=,; echo "${mpi_packages[*]}")
    # No docs, man pages or locales; no host keys (sshd gets the service's own); no apt lists.
    mmdebstrap --quiet --variant=essential --include="$include" \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
      --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
      --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
      bookworm "$tmp/rootfs.tar"
    mv "$tmp/rootfs.tar" "$out"
    echo "$out"
    ;;
  busybox)
    bb=/bin/busybox
    key=$( { echo "$recipe_version"; sha256sum "$bb"; cat "$0"; } | sha256sum | cut -c1-16)
    out=$cache/busybox-$key.tar
    [[ -s $out ]] && { echo "$out"; exit 0; }
    tmp=$(mktemp -d "$cache/build.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/root"/{bin,etc,tmp,proc,sys,dev,run,root}
    cp "$bb" "$tmp/root/bin/busybox"
    for a in $("$bb" --list); do [[ $a == busybox ]] || ln -s busybox "$tmp/root/bin/$a"; done
    chmod 1777 "$tmp/root/tmp"
    echo 'root:x:0:0:root:/root:/bin/sh' >"$tmp/root/etc/passwd"
    echo 'root:x:0:' >"$tmp/root/etc/group"
    tar -C "$tmp/root" --numeric-owner --owner=0 --group=0 -cf "$tmp/rootfs.tar" .
    mv "$tmp/rootfs.tar" "$out"
    echo "$out"
    ;;
  *) echo "build.sh: unknown image $kind (mpi or busybox)" >&2; exit 2 ;;
esac
