// Device nodes and /dev symlinks, made through fds resolved inside the rootfs (CVE-2026-41579
// class: never through a path the container could have replaced with a symlink).
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "init.h"

// Split "/dev/foo/bar" into an O_PATH fd of "/dev/foo" (made if missing) and "bar".
static int open_parent(const char *path, char *name, size_t name_len) {
  char parent[PATH_MAX];
  if (snprintf(parent, sizeof parent, "%s", path) >= (int)sizeof parent) die(ENAMETOOLONG, "%s", path);
  char *slash = strrchr(parent, '/');
  if (!slash || !slash[1]) die(EINVAL, "bad device path %s", path);
  snprintf(name, name_len, "%s", slash + 1);
  if (slash == parent) slash[1] = '\0';
  else *slash = '\0';
  int fd = open_in_root(parent, CREATE_DIR, 0755);
  if (fd < 0) die(errno, "resolve %s in rootfs", parent);
  return fd;
}

void op_mknod(plan_reader *r) {
  const char *path = rd_str(r);
  uint32_t mode = rd_u32(r);
  uint64_t rdev = rd_u64(r);
  uint32_t uid = rd_u32(r);
  uint32_t gid = rd_u32(r);
  char name[NAME_MAX + 1];
  int dir = open_parent(path, name, sizeof name);
  // A node the image already has is used if it is the same device; anything else there is an
  // error (the spec's rule), never a file of the image deleted to make room.
  struct stat st;
  if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    bool same = (st.st_mode & S_IFMT) == (mode & S_IFMT) && (S_ISFIFO(st.st_mode) || st.st_rdev == (dev_t)rdev);
    if (!same) die(EEXIST, "device %s: a different file is already there", path);
    int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    char p[64];
    if (fd < 0 || fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 || chmod(fdpath(fd, p, sizeof p), mode & 07777) < 0)
      die(errno, "device %s: set owner and mode", path);
    close(fd);
    close(dir);
    return;
  }
  if (mknodat(dir, name, mode, (dev_t)rdev) == 0) {
    if (fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) die(errno, "chown device %s", path);
    // mknod applies the umask; the spec's mode is exact.
    int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    char p[64];
    if (fd < 0 || chmod(fdpath(fd, p, sizeof p), mode & 07777) < 0) die(errno, "chmod device %s", path);
    close(fd);
  } else if (errno == EPERM) {
    // In a user namespace mknod is refused: bind the host's node at the same path instead, as
    // runc does (before pivot_root the host's /dev is still reachable).
    const char *host = path;
    int f = openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (f < 0) die(errno, "create bind target for device %s", path);
    close(f);
    int t = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    char target[64];
    if (t < 0 || mount(host, fdpath(t, target, sizeof target), nullptr, MS_BIND, nullptr) < 0) die(errno, "bind host device %s on %s", host, path);
    close(t);
  } else {
    die(errno, "mknod %s", path);
  }
  close(dir);
}

void op_symlink(plan_reader *r) {
  const char *target = rd_str(r);
  const char *path = rd_str(r);
  char name[NAME_MAX + 1];
  int dir = open_parent(path, name, sizeof name);
  if (symlinkat(target, dir, name) < 0 && errno != EEXIST) die(errno, "symlink %s -> %s", path, target);
  close(dir);
}
