// The root filesystem: propagation, the rootfs bind, mounts[] onto fds resolved inside the
// rootfs, pivot_root, read-only and masked paths.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "mount_api.h"
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "init.h"

static void proc_fd(int fd, char *buf, size_t len) { fdpath(fd, buf, len); }

// An fd opened before a mount still names the mountpoint underneath; reopen the path so later
// changes (remount, propagation) apply to the new mount on top.
static int reopen(int fd, const char *dest, char *target, size_t len) {
  close(fd);
  fd = open_in_root(dest, CREATE_NONE, 0);
  if (fd < 0) die(errno, "reopen %s after mounting", dest);
  proc_fd(fd, target, len);
  return fd;
}

void op_root_propagation(plan_reader *r) {
  uint64_t flags = rd_u64(r);
  if (mount(nullptr, "/", nullptr, (unsigned long)flags, nullptr) < 0) die(errno, "set propagation of /");
}

void op_bind_rootfs(plan_reader *r) {
  const char *rootfs = rd_str(r);
  g.rootfs = rootfs;
  if (mount(rootfs, rootfs, nullptr, MS_BIND | MS_REC, nullptr) < 0) die(errno, "bind rootfs %s", rootfs);
  g.root_fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (g.root_fd < 0) die(errno, "open rootfs %s", rootfs);
}

// A bind of a file needs a file to mount on; anything else needs a directory.
static int dest_kind(bool bindlike, const char *source) {
  if (!bindlike) return CREATE_DIR;
  struct stat st;
  if (stat(source, &st) < 0) die(errno, "bind source %s", source);
  return S_ISDIR(st.st_mode) ? CREATE_DIR : CREATE_FILE;
}

// A bind remount replaces all per-mount flags; keep the ones already set (a user namespace
// refuses to clear locked nosuid/nodev/noexec).
static unsigned long current_flags(const char *target) {
  struct statvfs sv;
  if (statvfs(target, &sv) < 0) return 0;
  unsigned long out = 0;
  if (sv.f_flag & ST_RDONLY) out |= MS_RDONLY;
  if (sv.f_flag & ST_NOSUID) out |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) out |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) out |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) out |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) out |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) out |= MS_RELATIME;
  return out;
}

// mount_setattr(AT_RECURSIVE) on the mount `fd` names: attributes for it and every mount below
// (the r* options), which mount(2) can only set one mount at a time.
static void set_recursive_attrs(int fd, const char *dest, uint64_t set, uint64_t clr) {
  if (!set && !clr) return;
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = set;
  attr.attr_clr = clr;
  if (mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
    die(errno, "set recursive mount attributes of %s", dest);
}

// sysfs belongs to the network namespace: in a user namespace that does not own it the kernel
// refuses a new sysfs (EPERM). Then the host's /sys is bound recursively instead, with the
// requested restrictions on every mount below it too (as runc and crun do).
static int sysfs_or_host_sys(char *target, const char *dest, int fd, uint64_t flags, const char *data) {
  if (mount("sysfs", target, "sysfs", (unsigned long)flags, data[0] ? data : nullptr) == 0) return fd;
  if (errno != EPERM) die(errno, "mount sysfs on %s", dest);
  if (mount("/sys", target, nullptr, MS_BIND | MS_REC, nullptr) < 0)
    die(errno, "bind the host's /sys on %s (a new sysfs was refused: no network namespace of our own)", dest);
  fd = reopen(fd, dest, target, 64);
  unsigned long want = (unsigned long)flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
  if (mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | want | current_flags(target), nullptr) < 0)
    die(errno, "remount the host's /sys on %s with its options", dest);
  uint64_t rec = (want & MS_RDONLY ? MOUNT_ATTR_RDONLY : 0) | (want & MS_NOSUID ? MOUNT_ATTR_NOSUID : 0) |
                 (want & MS_NODEV ? MOUNT_ATTR_NODEV : 0) | (want & MS_NOEXEC ? MOUNT_ATTR_NOEXEC : 0);
  set_recursive_attrs(fd, dest, rec, 0);
  return fd;
}

void op_mount(plan_reader *r) {
  uint32_t kind = rd_u32(r);
  const char *source = rd_str(r);
  const char *dest = rd_str(r);
  const char *fstype = rd_str(r);
  uint64_t flags = rd_u64(r);
  uint64_t prop = rd_u64(r);
  const char *data = rd_str(r);
  uint64_t remount = rd_u64(r);
  uint64_t attr_set = rd_u64(r);
  uint64_t attr_clr = rd_u64(r);
  uint32_t slot = rd_u32(r);

  bool bindlike = kind == MOUNT_BIND || kind == MOUNT_IDMAPPED;
  int fd = open_in_root(dest, dest_kind(bindlike, source), bindlike ? 0644 : 0755);
  if (fd < 0) die(errno, "mount %s: resolve %s in rootfs", fstype[0] ? fstype : "bind", dest);
  char target[64];
  proc_fd(fd, target, sizeof target);
  if (bindlike) {
    if (kind == MOUNT_IDMAPPED) {
      if (slot >= MAX_IDMAP_TREES || idmap_trees[slot] < 0) die(EINVAL, "malformed plan: idmap slot %u", slot);
      // Onto the fd resolved in the rootfs, never a path the container could swap.
      if (move_mount(idmap_trees[slot], "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        die(errno, "move the idmapped mount of %s onto %s", source, dest);
      close(idmap_trees[slot]);
      idmap_trees[slot] = -1;
    } else if (mount(source, target, nullptr, MS_BIND | (flags & MS_REC), nullptr) < 0) {
      die(errno, "bind %s on %s", source, dest);
    }
    fd = reopen(fd, dest, target, sizeof target);
    if (remount && mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | remount, nullptr) < 0)
      die(errno, "remount %s with its options", dest);
  } else if (kind == MOUNT_SYSFS) {
    fd = sysfs_or_host_sys(target, dest, fd, flags, data);
    if (prop || attr_set || attr_clr) fd = reopen(fd, dest, target, sizeof target);
  } else {
    if (mount(source, target, fstype, (unsigned long)flags, data[0] ? data : nullptr) < 0) {
      die(errno, "mount %s on %s", fstype, dest);
    }
    if (prop || attr_set || attr_clr) fd = reopen(fd, dest, target, sizeof target);
  }
  set_recursive_attrs(fd, dest, attr_set, attr_clr);
  if (prop && mount(nullptr, target, nullptr, (unsigned long)prop, nullptr) < 0)
    die(errno, "set propagation of %s", dest);
  close(fd);
}

// A v1 hierarchy: a fresh mount when the container has its own cgroup namespace, else a bind of
// the container's own directory from the host, never the host's whole tree.
void op_mount_cgroup_v1(plan_reader *r) {
  const char *dest = rd_str(r);
  const char *options = rd_str(r);
  const char *hostdir = rd_str(r);
  uint64_t flags = rd_u64(r);
  int fd = open_in_root(dest, CREATE_DIR, 0755);
  if (fd < 0) die(errno, "cgroup: resolve %s in rootfs", dest);
  char target[64];
  proc_fd(fd, target, sizeof target);
  if (hostdir[0]) {
    if (mount(hostdir, target, nullptr, MS_BIND | MS_REC, nullptr) < 0) die(errno, "bind %s on %s", hostdir, dest);
    fd = reopen(fd, dest, target, sizeof target);
    if (mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | (unsigned long)flags, nullptr) < 0)
      die(errno, "remount %s", dest);
  } else if (mount("cgroup", target, "cgroup", (unsigned long)flags, options) < 0) {
    die(errno, "mount cgroup (%s) on %s", options, dest);
  }
  close(fd);
}

void op_propagation(plan_reader *r) {
  const char *path = rd_str(r);
  uint64_t flags = rd_u64(r);
  int fd = open_in_root(path, CREATE_NONE, 0);
  if (fd < 0) die(errno, "resolve %s", path);
  char target[64];
  proc_fd(fd, target, sizeof target);
  if (mount(nullptr, target, nullptr, (unsigned long)flags, nullptr) < 0) die(errno, "set propagation of %s", path);
  close(fd);
}

void op_pivot_root(plan_reader *r) {
  uint32_t mode = rd_u32(r);
  if (fchdir(g.root_fd) < 0) die(errno, "chdir to rootfs %s", g.rootfs);
  if (mode == 2) {
    // No mount namespace of the container's own: the runtime's is shared, so its root stays
    // where it is and the container only changes its own root directory.
    if (chroot(".") < 0) die(errno, "chroot to rootfs %s", g.rootfs);
  } else if (mode == 1) {
    // Without pivot_root (e.g. a rootfs on ramfs): move the rootfs over / and chroot into it.
    if (mount(".", "/", nullptr, MS_MOVE, nullptr) < 0) die(errno, "move rootfs %s to /", g.rootfs);
    if (chroot(".") < 0) die(errno, "chroot to rootfs");
  } else {
    // pivot_root(".", ".") stacks the old root on the new one. The old root is made a slave
    // (from a cwd inside it: "." alone would name the new root and turn every container mount
    // private) so detaching it cannot propagate to the host, then detached.
    int old_root = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (old_root < 0) die(errno, "open the old root");
    if (syscall(SYS_pivot_root, ".", ".") < 0) die(errno, "pivot_root to %s", g.rootfs);
    if (fchdir(old_root) < 0) die(errno, "chdir to the old root");
    close(old_root);
    if (mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) < 0) die(errno, "make old root a slave");
    if (umount2(".", MNT_DETACH) < 0) die(errno, "detach the old root");
  }
  if (chdir("/") < 0) die(errno, "chdir /");
  close(g.root_fd);
  g.root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (g.root_fd < 0) die(errno, "open new root");
  g.pivoted = true;
}

void op_readonly_path(plan_reader *r) {
  const char *path = rd_str(r);
  uint32_t is_root = rd_u32(r);
  int fd = open_in_root(path, CREATE_NONE, 0);
  if (fd < 0) {
    if (errno == ENOENT && !is_root) return;  // a readonly path that does not exist is skipped
    die(errno, "readonly path %s", path);
  }
  char target[64];
  proc_fd(fd, target, sizeof target);
  if (!is_root && mount(target, target, nullptr, MS_BIND | MS_REC, nullptr) < 0) die(errno, "bind %s", path);
  if (!is_root) fd = reopen(fd, path, target, sizeof target);
  unsigned long keep = current_flags(target);
  if (mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, nullptr) < 0)
    die(errno, "make %s read-only", path);
  close(fd);
}

void op_mask_path(plan_reader *r) {
  const char *path = rd_str(r);
  int fd = open_in_root(path, CREATE_NONE, 0);
  if (fd < 0) {
    if (errno == ENOENT) return;
    die(errno, "masked path %s", path);
  }
  char target[64];
  proc_fd(fd, target, sizeof target);
  struct stat st;
  if (fstat(fd, &st) < 0) die(errno, "stat masked path %s", path);
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", target, "tmpfs", MS_RDONLY, "size=0k") < 0) die(errno, "mask directory %s", path);
  } else {
    // Mount the real /dev/null device, checked by its numbers, never a file the container
    // could have put at /dev/null (CVE-2025-31133).
    int null_fd = open_in_root("/dev/null", CREATE_NONE, 0);
    struct stat ns;
    if (null_fd < 0 || fstat(null_fd, &ns) < 0 || !S_ISCHR(ns.st_mode) || ns.st_rdev != makedev(1, 3))
      die(EPERM, "mask %s: /dev/null in the container is not the null device", path);
    char src[64];
    proc_fd(null_fd, src, sizeof src);
    if (mount(src, target, nullptr, MS_BIND, nullptr) < 0) die(errno, "mask file %s", path);
    close(null_fd);
  }
  close(fd);
}
