#!/bin/sh
# Builds the Debian 12 guest that test/guest/ runs in: systemd as PID 1, pure cgroup v2, AppArmor,
# kernel 6.1, the reference runtimes (runc, crun) and the engines, from the apt mirror this host
# uses. Prints the directory holding disk.raw, vmlinuz and initrd.img.
#
# The result is cached in $HUSK_GUEST_CACHE (default /var/cache/husk-guest/) under a key made of
# this script and the host's node binary, so a second run (or a fresh clone on the same machine)
# reuses it. Needs root, debootstrap and mkfs.ext4 (-d: no loop device, no mount).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${HUSK_GUEST_CACHE:-/var/cache/husk-guest}
node_bin=$(command -v node)
key=$( (cat "$here/build-image.sh" "$here/guest-job.sh" "$here/husk-guest-job.service"; sha256sum <"$node_bin") | sha256sum | cut -c1-16)
out="$cache/$key"

if [ -f "$out/ready" ]; then
  echo "$out"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build-image.sh: needs root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "build-image.sh: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }

mkdir -p "$cache"
# One builder at a time per cache; the second waits and then finds the image ready.
exec 9>"$cache/.lock"
flock 9
if [ -f "$out/ready" ]; then
  echo "$out"
  exit 0
fi

# The mirror this host's apt uses (deb822 or one-line sources), so the guest needs no other network.
mirror=$(grep -rhoE 'https?://[^ ]*/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
  | head -n1 | tr -d ' ')
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}
security=$(echo "$mirror" | sed 's,/debian$,/debian-security,')

work=$(mktemp -d "$cache/build.XXXXXX")
root="$work/root"
cleanup() {
  for m in dev/pts dev proc sys; do
    mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
  done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

log="$work/build.log"
t0=$(date +%s)
echo "build-image.sh: debootstrap bookworm from $mirror (log: $log)" >&2
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,udev,kmod,initramfs-tools,zstd \
  bookworm "$root" "$mirror" >"$log" 2>&1 || { tail -n 30 "$log" >&2; exit 1; }

cat >"$root/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SRC
# The initrd holds what this guest boots from and nothing else (MODULES=most copies every driver,
# minutes of the build): virtio for the disk, ext4, and 9p for the shares.
printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic 9p 9pnet 9pnet_virtio >>"$root/etc/initramfs-tools/modules"
echo MODULES=list >"$root/etc/initramfs-tools/conf.d/husk-guest"
printf '%s\n' 9p 9pnet_virtio >"$root/etc/modules-load.d/husk-guest.conf"
# No service starts inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
cp /etc/resolv.conf "$root/etc/resolv.conf"

# What the guest suite drives: the kernel, AppArmor, the reference runtimes, the engines.
# Rootless: uidmap (newuidmap), a user bus for the user's systemd (dbus-user-session: husk's and
# runc's --systemd-cgroup reach it at $XDG_RUNTIME_DIR/bus), slirp4netns and fuse-overlayfs for
# rootless podman, systemd-container (machinectl shell / systemd-run -M user@.host). The bench:
# time (/usr/bin/time, peak RSS) and musl-tools (the CRI scenario builds its pause program).
pkgs="linux-image-amd64 apparmor apparmor-utils runc crun podman conmon containerd docker.io criu \
busybox-static jq uidmap dbus-user-session slirp4netns fuse-overlayfs systemd-container \
iproute2 procps util-linux e2fsprogs ca-certificates time musl-tools"
chroot "$root" sh -c "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && \
  apt-get install -y -qq --no-install-recommends $pkgs && apt-get clean" >>"$log" 2>&1 \
  || { tail -n 30 "$log" >&2; exit 1; }

for m in dev/pts dev proc sys; do umount -l "$root/$m"; done
rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf"

# The host's node (both are Debian 12: same glibc), so the built tree runs unchanged.
install -m 755 "$node_bin" "$root/usr/local/bin/node"

echo husk-guest >"$root/etc/hostname"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
passwd -R "$root" -d root >/dev/null 2>&1 || chroot "$root" passwd -d root >/dev/null
# The engines' daemons are started by the tests that need them, on their own sockets.
for u in docker.service docker.socket containerd.service podman.socket; do
  chroot "$root" systemctl disable "$u" >/dev/null 2>&1 || true
done
chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
  >/dev/null 2>&1 || true

install -m 755 "$here/guest-job.sh" "$root/usr/local/sbin/husk-guest-job"
install -m 644 "$here/husk-guest-job.service" "$root/etc/systemd/system/husk-guest-job.service"
chroot "$root" systemctl enable husk-guest-job.service >/dev/null 2>&1

mkdir -p "$work/out"
kver=$(ls "$root/lib/modules" | sort -V | tail -n1)
cp "$root/boot/vmlinuz-$kver" "$work/out/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$work/out/initrd.img"
# 6 GiB sparse: the packages take ~1.5 GiB, the rest is room for the suite's bundles and images.
mkfs.ext4 -q -F -L husk-guest -d "$root" "$work/out/disk.raw" 6G >>"$log" 2>&1 || { tail -n 30 "$log" >&2; exit 1; }
echo "kernel $kver, built in $(($(date +%s) - t0)) s from $mirror" >"$work/out/ready"
rm -rf "$out"
mv "$work/out" "$out"
# Other keys are other versions of this script, perhaps another checkout's (a helper's branch)
# still booting them: they stay. HUSK_GUEST_PRUNE=1 drops those not used for a week.
if [ "${HUSK_GUEST_PRUNE:-0}" = 1 ]; then
  find "$cache" -mindepth 1 -maxdepth 1 -type d -name '????????????????' ! -name "$key" -atime +7 -exec rm -rf {} +
fi
echo "build-image.sh: $(cat "$out/ready")" >&2
echo "$out"
