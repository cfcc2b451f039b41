#!/usr/bin/env bash
# make test-fresh: the README's `make test`, run as a new user runs it, in a
# bare Debian 12 root (debootstrap minbase plus make, gcc, git and
# ca-certificates, nothing else) from a clean clone of this repository's
# HEAD, as root.  A step that only works on a machine where the packages are
# already there fails here.
#
#   t/fresh.sh WORKDIR [MAKE ARGS...]     (default: test)
#
# WORKDIR/base is the bare root, made once and kept; each run starts from a
# new copy of it, WORKDIR/root.  The root shares the host's network: apt
# uses the Debian mirror the host's apt uses, and the root is handed the
# host's own trust and proxy settings (the CAs in
# /usr/local/share/ca-certificates, apt's Acquire::*::Proxy, the proxy
# variables, NODE_EXTRA_CA_CERTS), as a build machine behind a proxy needs.
# No service starts inside the root (policy-rc.d), so that installing
# nginx does not take a host port.

set -euo pipefail

work=$(mkdir -p "$1" && cd "$1" && pwd)
shift
[ $# -gt 0 ] || set -- test

top=$(cd "$(dirname "$0")/.." && pwd)
base=$work/base
root=$work/root
suite=bookworm
packages=make,gcc,git,ca-certificates

[ "$(id -u)" = 0 ] || { echo "t/fresh.sh: needs root (chroot, mount)"; exit 1; }

# the Debian sites apt uses here, with their suites: "SITE CODENAME"
sites=$(apt-get indextargets --format '$(SITE) $(CODENAME)' \
            'Created-By: Packages' 2>/dev/null \
        | awk '$2 ~ /^'$suite'(-updates|-security)?$/' | sort -u)
mirror=$(awk '$2 == "'$suite'" { print $1; exit }' <<< "$sites")
mirror=${mirror:-http://deb.debian.org/debian}

command -v debootstrap >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
}

# Nothing of the host may be mounted in a root when it is removed: rm would
# go through the bind mount into the host's /dev.
mounted() {
    findmnt -rn -o TARGET | awk -v r="$1" 'index($0, r "/") == 1' | sort -r
}

release() {
    local r=$1 pid m

    # processes the suite left behind inside the root keep its mounts busy
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
        [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$r" ] \
            && kill -9 "$pid" 2>/dev/null
    done
    sleep 0.5

    for m in $(mounted "$r"); do
        umount "$m" 2>/dev/null || umount -l "$m"
    done
    if [ -n "$(mounted "$r")" ]; then
        echo "t/fresh.sh: $r still has mounts; not removing it"
        return 1
    fi
}

remove_root() {
    [ -e "$1" ] || return 0
    release "$1" && rm -rf --one-file-system "$1"
}

if [ ! -x "$base/bin/sh" ]; then
    remove_root "$base.new"
    echo "fresh root: debootstrap $suite from $mirror"
    debootstrap --variant=minbase --include=$packages \
        $suite "$base.new" "$mirror" > "$work/debootstrap.log" 2>&1 \
        || { tail -n 20 "$work/debootstrap.log"; exit 1; }
    mv "$base.new" "$base"
fi

remove_root "$root"
cp -a "$base" "$root"
rm -rf "$work/archives"
mkdir -p "$work/archives/partial"
trap 'release "$root"' EXIT

# what a Debian 12 machine has that debootstrap leaves out
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
    > "$root/etc/hosts"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
awk '{ print "deb " $1 " " $2 " main" }' <<< "$sites" \
    > "$root/etc/apt/sources.list"
[ -s "$root/etc/apt/sources.list" ] \
    || echo "deb $mirror $suite main" > "$root/etc/apt/sources.list"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

# the host's trust and proxy settings
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    cp /usr/local/share/ca-certificates/*.crt \
        "$root/usr/local/share/ca-certificates/"
fi
apt-config dump 2>/dev/null | grep -i '^Acquire::[a-z]*::Proxy' \
    > "$root/etc/apt/apt.conf.d/90host-proxy" || true

env=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
     TERM=dumb)
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [ -n "${!v:-}" ] && env+=("$v=${!v}")
done
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
    env+=(NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt)
fi

# /proc, /dev and /dev/pts as the build needs them; apt's downloads shared
# by the two roots of a run (each installs the same packages)
mount_system() {
    mount -t proc proc "$1/proc"
    mount --bind /dev "$1/dev"
    mount --bind /dev/pts "$1/dev/pts"
    mount -t tmpfs -o mode=1777 tmpfs "$1/dev/shm"
    mount --bind "$work/archives" "$1/var/cache/apt/archives"
}

# in the root, as a root login on a new machine: HOME, PATH, nothing else
in_root() {
    local r=$1
    shift
    chroot "$r" /usr/bin/env -i "${env[@]}" "$@"
}

# a clean clone of what is committed, as a new user gets it
chroot "$root" update-ca-certificates > /dev/null 2>&1
git clone -q --no-local "$top" "$root/root/ci-jobs"

# The README's two commands, each the first thing run on its machine: make
# run in this root, make test in a copy of it taken now.
cp -a "$root" "$root.test"
trap 'release "$root"; remove_root "$root.test"' EXIT
mount_system "$root"

# make run until it answers a lookup through the emulator (on a free port,
# CI_LISTEN), then stopped as a user stops it
run_port=$(perl -MIO::Socket::INET -e \
    'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")
         ->sockport')

echo "fresh root: make run in a clean clone, as root (port $run_port)"
in_root "$root" CI_LISTEN=127.0.0.1:$run_port /bin/bash -c '
    cd /root/ci-jobs
    setsid make run > /root/make-run.log 2>&1 &
    run=$!
    url=http://$CI_LISTEN/ci/jobs/j8d121820f5e411ec926ef19d53ba9c6f
    answer=
    for i in $(seq 1 1200); do
        kill -0 $run 2>/dev/null || break
        answer=$(curl -s "$url" 2>/dev/null) && [ -n "$answer" ] && break
        sleep 1
    done
    kill -TERM -- -$run 2>/dev/null
    wait $run
    case "$answer" in
    *"<State>Success</State>"*) echo "make run answered $url" ;;
    *) tail -n 30 /root/make-run.log
       echo "make run did not answer a lookup: ${answer:-nothing}"
       exit 1 ;;
    esac'

remove_root "$root"
mv "$root.test" "$root"
trap 'release "$root"' EXIT
mount_system "$root"

echo "fresh root: make $* in a clean clone, as root"
in_root "$root" /bin/bash -c 'cd /root/ci-jobs && exec make "$@"' make "$@"
