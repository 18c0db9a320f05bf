#!/bin/sh
# Installs what the tests need: the container engines test/engines/ drives: podman (with conmon),
# containerd (ctr + io.containerd.runc.v2 shim) and docker.io (dockerd 20.10), plus the tools the
# tests use (runc as the reference runtime, busybox-static for the image, bsdutils for `script`,
# uidmap, slirp4netns and fuse-overlayfs for rootless podman),
# and musl-tools, so that the static executables are built as the README's first command builds them;
# for test/cri/ (containerd's CRI plugin): containernetworking-plugins (bridge, host-local, loopback)
# and iproute2 (the test removes its bridge with `ip`). No iptables: the test's bridge config has no
# masquerade and no gateway, so the bridge plugin never calls it. qemu-system-x86 + debootstrap for
# the guest suite (scripts/guest/, test/guest/).
# Idempotent and quiet: does nothing when everything is already there. Needs root and apt.
set -eu

PKGS="podman conmon containerd docker.io runc busybox-static musl-tools bsdutils uidmap slirp4netns fuse-overlayfs containernetworking-plugins iproute2 qemu-system-x86 debootstrap"

if [ "$(id -u)" != 0 ]; then
  echo "scripts/install-test-deps.sh: not root, skipping engine installs" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "scripts/install-test-deps.sh: no apt-get, skipping engine installs" >&2
  exit 0
fi

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

export DEBIAN_FRONTEND=noninteractive
# Do not let the packages' postinst start the system's containerd/docker services; the tests start
# their own daemons on private sockets and directories.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  made_policy=1
fi
trap '[ "$made_policy" = 1 ] && rm -f "$policy"' EXIT

apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq -o DPkg::Lock::Timeout=900 --no-install-recommends $missing >/dev/null
