#!/bin/sh

# make deb: libnginx-mod-http-ci-jobs_<version>_<arch>.deb, laid out as
# Debian's own libnginx-mod-* packages are (what dh_nginx makes), built by
# hand with dpkg-deb:
#
#   /usr/lib/nginx/modules/ngx_http_ci_jobs_module.so
#   /usr/share/nginx/modules-available/mod-http-ci-jobs.conf  (load_module)
#   /usr/share/doc/libnginx-mod-http-ci-jobs/                 (docs)
#
# postinst links the snippet into /etc/nginx/modules-enabled/ as
# 50-mod-http-ci-jobs.conf, prerm and postrm take it out as dh_nginx's
# scripts do (a "remove" keeps it as .removed, so that a reinstall restores
# it and an administrator's removal sticks; "purge" forgets it).  Every
# path is under $DPKG_ROOT, and the link is relative, so that it resolves
# inside whichever root the package is installed into.
#
# Depends: the nginx ABI the module was built for (nginx-dev's
# libnginx-mod.abisubstvars, as dh_nginx reads it, or the installed
# nginx's Provides) and the shared libraries (dpkg-shlibdeps).
#
#   pkg/deb.sh MODULE OUTDIR

set -eu

MODULE=$1
OUT=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)

NAME=libnginx-mod-http-ci-jobs
CONF=mod-http-ci-jobs.conf
LINK=50-$CONF
SO=ngx_http_ci_jobs_module.so

VERSION=$(sed -n 's/^#define NGX_HTTP_CI_JOBS_VERSION *"\(.*\)"/\1/p' \
          "$ROOT/src/ngx_http_ci_jobs_module.h")
ARCH=$(dpkg --print-architecture)

ABIVARS=/usr/share/nginx/src/debian/libnginx-mod.abisubstvars
ABI=$(sed -n 's/^nginx:abi=//p' "$ABIVARS" 2>/dev/null || true)
if [ -z "$ABI" ]; then
    ABI=$(dpkg-query -W -f '${Provides}\n' nginx nginx-core 2>/dev/null \
          | tr ',' '\n' | sed -n 's/^ *\(nginx-abi-[^ ]*\).*/\1/p' | head -1)
fi
if [ -z "$ABI" ]; then
    echo "deb: no nginx ABI found (nginx-dev's $ABIVARS, nginx's Provides)" >&2
    exit 1
fi

[ -n "$VERSION" ] || { echo "deb: no NGX_HTTP_CI_JOBS_VERSION" >&2; exit 1; }

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
P=$STAGE/$NAME
DOC=$P/usr/share/doc/$NAME

umask 022
mkdir -p "$P/DEBIAN" "$P/usr/lib/nginx/modules" \
         "$P/usr/share/nginx/modules-available" "$DOC/docs"

# the module, stripped as dh_strip does
install -m 0644 "$MODULE" "$P/usr/lib/nginx/modules/$SO"
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$P/usr/lib/nginx/modules/$SO"

echo "load_module modules/$SO;" \
    > "$P/usr/share/nginx/modules-available/$CONF"

# docs: compressed past 4 kB, as dh_compress does; copyright never
install -m 0644 "$ROOT/README.md" "$DOC/README.md"
install -m 0644 "$ROOT"/docs/*.md "$DOC/docs/"
find "$DOC" -name '*.md' -size +4k -exec gzip -9n {} +

cat > "$DOC/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ngx_http_ci_jobs_module
Comment: ngx_http_ci_jobs_module $VERSION, an nginx dynamic module: Tencent
 Cloud CI job queries as unsigned, validated endpoints, signed with
 server-side credentials and proxied to CI.  The source tree states no
 licence; ask its authors before redistributing this package.

Files: *
Copyright: the ngx_http_ci_jobs_module authors
License: unspecified
COPYRIGHT

DATE=$(date -R -d "@$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null \
                      || date +%s)")
printf '%s (%s) unstable; urgency=medium\n\n  * Built from %s.\n\n -- %s  %s\n' \
    "$NAME" "$VERSION" \
    "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo source)" \
    "ngx_http_ci_jobs_module <ngx_http_ci_jobs_module@localhost>" "$DATE" \
    | gzip -9n > "$DOC/changelog.Debian.gz"

# Depends: the ABI, and the libraries the .so links
mkdir -p "$STAGE/shlibs/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$NAME" "$NAME" \
    > "$STAGE/shlibs/debian/control"
SHLIBS=$(cd "$STAGE/shlibs" \
         && dpkg-shlibdeps -O "$P/usr/lib/nginx/modules/$SO" 2>/dev/null \
         | sed -n 's/^shlibs:Depends=//p')
if [ -z "$SHLIBS" ]; then
    SHLIBS="libc6, libssl3, libxml2, libjansson4"
fi

SIZE=$(du -sk --exclude=DEBIAN "$P" | cut -f1)

cat > "$P/DEBIAN/control" <<CONTROL
Package: $NAME
Version: $VERSION
Architecture: $ARCH
Section: httpd
Priority: optional
Maintainer: ngx_http_ci_jobs_module <ngx_http_ci_jobs_module@localhost>
Installed-Size: $SIZE
Depends: $ABI, $SHLIBS
Description: Tencent Cloud CI job queries for nginx
 An nginx dynamic module that serves the Tencent Cloud CI job queries as
 unsigned, strictly validated endpoints: each request is checked, signed
 with server-side credentials (inline, a credentials file, or a CVM role)
 and proxied to CI over verified TLS, its answer in XML or JSON, terminal
 states cached; Prometheus metrics and a readiness answer (ci_jobs_status).
CONTROL

# the maintainer scripts: dh_nginx's, under $DPKG_ROOT

cat > "$P/DEBIAN/postinst" <<SCRIPT
#!/bin/sh
set -e

enabled="\$DPKG_ROOT/etc/nginx/modules-enabled"

if [ -L "\$enabled/$LINK.removed" ]; then
    rm "\$enabled/$LINK.removed"
    removed_link=true
else
    removed_link=false
fi

# on a fresh install, and on a reinstall after an automatic removal (an
# administrator's own removal is kept)
if [ -z "\${2:-}" ] || [ "\$removed_link" = "true" ]; then
    mkdir -p "\$enabled"
    ln -sf ../../../usr/share/nginx/modules-available/$CONF \\
        "\$enabled/$LINK"
fi

if [ "\$1" = "configure" ] && command -v dpkg-trigger >/dev/null 2>&1; then
    dpkg-trigger --no-await nginx-reload || true
fi
SCRIPT

cat > "$P/DEBIAN/prerm" <<SCRIPT
#!/bin/sh
set -e

enabled="\$DPKG_ROOT/etc/nginx/modules-enabled"

if [ "\$1" = "remove" ] || [ "\$1" = "deconfigure" ]; then
    if [ -L "\$enabled/$LINK" ]; then
        mv "\$enabled/$LINK" "\$enabled/$LINK.removed"
    fi
fi
SCRIPT

cat > "$P/DEBIAN/postrm" <<SCRIPT
#!/bin/sh
set -e

enabled="\$DPKG_ROOT/etc/nginx/modules-enabled"

if [ "\$1" = "purge" ]; then
    rm -f "\$enabled/$LINK" "\$enabled/$LINK.removed"
fi

if [ "\$1" = "remove" ]; then
    if [ -L "\$enabled/$LINK" ]; then
        mv "\$enabled/$LINK" "\$enabled/$LINK.removed"
    fi

    if command -v dpkg-trigger >/dev/null 2>&1; then
        dpkg-trigger --no-await nginx-reload || true
    fi
fi
SCRIPT

chmod 0755 "$P/DEBIAN/postinst" "$P/DEBIAN/prerm" "$P/DEBIAN/postrm"

(cd "$P" && find usr -type f | LC_ALL=C sort | xargs md5sum) \
    > "$P/DEBIAN/md5sums"

mkdir -p "$OUT"
DEB=$OUT/${NAME}_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$P" "$DEB" >/dev/null
echo "$DEB"
