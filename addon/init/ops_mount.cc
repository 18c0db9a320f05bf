// The root filesystem: propagation, the rootfs bind, mounts[] onto fds resolved inside the
// rootfs, pivot_root, read-only and masked paths.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include "mount_api.h"
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "init.h"

static void proc_fd(int fd, char *buf, size_t len) { fdpath(fd, buf, len); }

// The rootfs as the kernel names it (symlinks in its host path resolved), to tell where inside
// it an fd resolved to.
static char rootfs_real[PATH_MAX];

static bool under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

// The /proc and /sys rules of the plan (only procfs at /proc, only lxcfs-style files under it,
// nothing under /sys but what config.json names there) were checked on each destination as
// written; an image symlink or a racer in a shared volume can make it resolve somewhere else.
// So a destination that resolved into /proc or /sys, or onto a procfs or sysfs mount, must be
// the very path the plan names (CVE-2019-16884, CVE-2019-19921, CVE-2023-27561). Checked on
// the fd the mount is made on, so no later swap changes the answer.
static void guard_resolved(int fd, const char *dest) {
  struct statfs sf;
  if (fstatfs(fd, &sf) < 0) die(errno, "statfs the destination %s", dest);
  char real[PATH_MAX];
  fd_path(fd, real, sizeof real);
  const char *rel = "";
  size_t n = strlen(rootfs_real);
  if (g.pivoted) rel = real;
  else if (n && under(real, rootfs_real)) rel = real[n] ? real + n : "/";
  bool in_proc = sf.f_type == PROC_SUPER_MAGIC || under(rel, "/proc");
  bool in_sys = sf.f_type == SYSFS_MAGIC || under(rel, "/sys");
  if ((!in_proc && !in_sys) || strcmp(rel, dest) == 0) return;
  const char *where = rel[0] ? rel : "a path outside the rootfs";
  if (in_proc && strcmp(rel, "/proc") == 0)
    die(EPERM, "%s resolves to /proc in the rootfs, which cannot be mounted because it is not of type proc", dest);
  if (in_sys && strcmp(rel, "/sys") == 0)
    die(EPERM, "%s resolves to /sys in the rootfs, which cannot be mounted because it is not of type sysfs", dest);
  die(EPERM, "%s resolves to %s in the rootfs, which cannot be mounted because it is inside %s", dest, where,
      in_proc ? "/proc" : "/sys");
}

// procfs and sysfs (and anything the plan puts at /proc or /sys itself) go on an ordinary
// directory reached through no symlink: a link there would move them, and the masks and the
// runtime's writes to /proc with them, elsewhere (CVE-2023-28642).
static bool wants_plain_dir(const char *fstype, const char *dest) {
  return strcmp(fstype, "proc") == 0 || strcmp(fstype, "sysfs") == 0 || strcmp(dest, "/proc") == 0 ||
         strcmp(dest, "/sys") == 0;
}

static int resolve_dest(const char *dest, bool plain_dir, int create, mode_t mode, const char *what) {
  int fd = plain_dir ? open_dir_in_root_nofollow(dest) : open_in_root(dest, create, mode);
  if (fd < 0 && plain_dir && (errno == ELOOP || errno == ENOTDIR))
    die(errno, "filesystem %s must be mounted on ordinary directory: %s is a symlink or goes through one", what,
        dest);
  if (fd < 0) die(errno, "mount %s: resolve %s in rootfs", what, dest);
  guard_resolved(fd, dest);
  return fd;
}

// An fd opened before a mount still names the mountpoint underneath; reopen the path so later
// changes (remount, propagation) apply to the new mount on top, held to the same rules.
static int reopen(int fd, const char *dest, char *target, size_t len, bool plain_dir = false, bool guard = true) {
  close(fd);
  fd = plain_dir ? open_dir_in_root_nofollow(dest) : open_in_root(dest, CREATE_NONE, 0);
  if (fd < 0) die(errno, "reopen %s after mounting", dest);
  if (guard) guard_resolved(fd, dest);
  proc_fd(fd, target, len);
  return fd;
}

void op_root_propagation(plan_reader *r) {
  const op_root_propagation_args a = rd_op_root_propagation(r);
  if (mount(nullptr, "/", nullptr, (unsigned long)a.flags, nullptr) < 0) die(errno, "set propagation of /");
}

void op_bind_rootfs(plan_reader *r) {
  const op_bind_rootfs_args a = rd_op_bind_rootfs(r);
  g.rootfs = a.rootfs;
  if (mount(a.rootfs, a.rootfs, nullptr, MS_BIND | MS_REC, nullptr) < 0) die(errno, "bind rootfs %s", a.rootfs);
  g.root_fd = open(a.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (g.root_fd < 0) die(errno, "open rootfs %s", a.rootfs);
  fd_path(g.root_fd, rootfs_real, sizeof rootfs_real);
  if (strcmp(rootfs_real, "/") == 0) rootfs_real[0] = '\0';
}

// A bind of a file needs a file to mount on; anything else needs a directory.
static int dest_kind(bool bindlike, const char *source, int src_fd) {
  if (!bindlike) return CREATE_DIR;
  struct stat st;
  if ((src_fd >= 0 ? fstat(src_fd, &st) : stat(source, &st)) < 0) die(errno, "bind source %s", source);
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
  fd = reopen(fd, dest, target, 64, true);
  unsigned long want = (unsigned long)flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
  if (mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | want | current_flags(target), nullptr) < 0)
    die(errno, "remount the host's /sys on %s with its options", dest);
  uint64_t rec = (want & MS_RDONLY ? MOUNT_ATTR_RDONLY : 0) | (want & MS_NOSUID ? MOUNT_ATTR_NOSUID : 0) |
                 (want & MS_NODEV ? MOUNT_ATTR_NODEV : 0) | (want & MS_NOEXEC ? MOUNT_ATTR_NOEXEC : 0);
  set_recursive_attrs(fd, dest, rec, 0);
  return fd;
}

// The plan binds something at /proc only for a container without a pid namespace of its own,
// sharing the host's: the source must be a procfs, checked on the fd that is then mounted.
static void bind_host_proc(const char *source, const char *target, uint64_t flags) {
  int src = open(source, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (src < 0) die(errno, "bind source %s", source);
  struct statfs sf;
  if (fstatfs(src, &sf) < 0) die(errno, "statfs bind source %s", source);
  if (sf.f_type != PROC_SUPER_MAGIC) die(EPERM, "/proc cannot be mounted because %s is not of type proc", source);
  char from[64];
  if (mount(fdpath(src, from, sizeof from), target, nullptr, MS_BIND | (flags & MS_REC), nullptr) < 0)
    die(errno, "bind %s on /proc", source);
  close(src);
}

// An init joining another container's pid namespace is forked into it only once its rootfs is
// pivoted and every host handle closed (seal_host), so it mounts its procfs with fds alone: a
// procfs instance is tied to the pid namespace of the process that opens its context. Its root
// fd is then the procfs handle the /proc masks and read-only paths name their fds through: the
// container's own, fresh and unreachable by anything the config mounts (nothing under /proc).
static int mount_proc_here(int fd, const char *source, const char *dest, uint64_t flags, const char *data) {
  int fs = (int)syscall(SYS_fsopen, "proc", FSOPEN_CLOEXEC);
  if (fs < 0) die(errno, "mount proc on %s: fsopen", dest);
  if (source[0] && syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", source, 0) < 0)
    die(errno, "mount proc on %s: source %s", dest, source);
  char opts[1024];
  if (snprintf(opts, sizeof opts, "%s", data) >= (int)sizeof opts) die(ENAMETOOLONG, "mount proc on %s: options", dest);
  char *save = nullptr;
  for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(nullptr, ",", &save)) {
    char *eq = strchr(o, '=');
    if (eq) *eq = '\0';
    long rc = eq ? syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, o, eq + 1, 0)
                 : syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, o, nullptr, 0);
    if (rc < 0) die(errno, "mount proc on %s: option %s", dest, o);
  }
  if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) die(errno, "mount proc on %s: create", dest);
  unsigned attrs = (flags & MS_RDONLY ? MOUNT_ATTR_RDONLY : 0) | (flags & MS_NOSUID ? MOUNT_ATTR_NOSUID : 0) |
                   (flags & MS_NODEV ? MOUNT_ATTR_NODEV : 0) | (flags & MS_NOEXEC ? MOUNT_ATTR_NOEXEC : 0) |
                   (flags & MS_NOATIME ? MOUNT_ATTR_NOATIME : 0) | (flags & MS_STRICTATIME ? MOUNT_ATTR_STRICTATIME : 0) |
                   (flags & MS_NODIRATIME ? MOUNT_ATTR_NODIRATIME : 0);
  int m = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, attrs);
  if (m < 0) die(errno, "mount proc on %s: fsmount", dest);
  close(fs);
  if (move_mount(m, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    die(errno, "mount proc on %s: move_mount", dest);
  return m;
}

void op_mount(plan_reader *r) {
  const op_mount_args a = rd_op_mount(r);

  bool bindlike = a.kind == MOUNT_BIND || a.kind == MOUNT_IDMAPPED;
  bool plain = wants_plain_dir(a.fstype, a.dest);
  // A bind's source as the helper opened it with the host's privileges (user namespaces).
  int src = a.kind == MOUNT_BIND ? take_source_fd(a.slot) : -1;
  // A directory made to mount on is 0755 and a file 0644, as runc makes them (a bind of a
  // directory made its mountpoint 0644 before: no search bit for whoever sees it unmounted).
  int kind_made = plain ? CREATE_DIR : dest_kind(bindlike, a.source, src);
  int fd = resolve_dest(a.dest, plain, kind_made, kind_made == CREATE_FILE ? 0644 : 0755,
                        a.fstype[0] ? a.fstype : "bind");
  if (a.kind == MOUNT_PROC_HERE) {
    if (g.proc_fd >= 0) die(EINVAL, "malformed plan: procfs made here while the host's is open");
    g.proc_fd = mount_proc_here(fd, a.source, a.dest, a.flags, a.data);
    close(fd);
    if (a.prop) {
      fd = open_in_root(a.dest, CREATE_NONE, 0);
      char target[64];
      if (fd < 0 || mount(nullptr, fdpath(fd, target, sizeof target), nullptr, (unsigned long)a.prop, nullptr) < 0)
        die(errno, "set propagation of %s", a.dest);
      close(fd);
    }
    return;
  }
  char target[64];
  proc_fd(fd, target, sizeof target);
  if (bindlike) {
    if (a.kind == MOUNT_IDMAPPED) {
      if (a.slot >= MAX_IDMAP_TREES || idmap_trees[a.slot] < 0) die(EINVAL, "malformed plan: idmap slot %u", a.slot);
      // Onto the fd resolved in the rootfs, never a path the container could swap.
      if (move_mount(idmap_trees[a.slot], "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        die(errno, "move the idmapped mount of %s onto %s", a.source, a.dest);
      close(idmap_trees[a.slot]);
      idmap_trees[a.slot] = -1;
    } else if (strcmp(a.dest, "/proc") == 0) {
      bind_host_proc(a.source, target, a.flags);
    } else {
      // From the fd the helper opened with the host's privileges when there is one (a user
      // namespace whose root may not reach the source), else from the path.
      char from[64];
      const char *what = src >= 0 ? fdpath(src, from, sizeof from) : a.source;
      if (mount(what, target, nullptr, MS_BIND | (a.flags & MS_REC), nullptr) < 0) die(errno, "bind %s on %s", a.source, a.dest);
      if (src >= 0) close(src);
    }
    fd = reopen(fd, a.dest, target, sizeof target, plain);
    if (a.remount && mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | a.remount, nullptr) < 0)
      die(errno, "remount %s with its options", a.dest);
  } else if (a.kind == MOUNT_SYSFS) {
    fd = sysfs_or_host_sys(target, a.dest, fd, a.flags, a.data);
    if (a.prop || a.attr_set || a.attr_clr) fd = reopen(fd, a.dest, target, sizeof target, plain);
  } else if (a.kind == MOUNT_TMPFS) {
    struct stat covered;
    int lower = tmpfs_before(fd, a.slot, a.dest, &covered);
    if (mount(a.source, target, a.fstype, (unsigned long)a.flags, a.data[0] ? a.data : nullptr) < 0)
      die(errno, "mount %s on %s", a.fstype, a.dest);
    fd = reopen(fd, a.dest, target, sizeof target, plain);
    tmpfs_after(fd, lower, a.slot, a.dest, &covered);
    // Mounted writable for the mode and the copy; read-only now if the config says so.
    if (a.remount && mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | a.remount | current_flags(target), nullptr) < 0)
      die(errno, "remount %s with its options", a.dest);
  } else {
    if (mount(a.source, target, a.fstype, (unsigned long)a.flags, a.data[0] ? a.data : nullptr) < 0) {
      die(errno, "mount %s on %s", a.fstype, a.dest);
    }
    if (a.prop || a.attr_set || a.attr_clr) fd = reopen(fd, a.dest, target, sizeof target, plain);
  }
  set_recursive_attrs(fd, a.dest, a.attr_set, a.attr_clr);
  if (a.prop && mount(nullptr, target, nullptr, (unsigned long)a.prop, nullptr) < 0)
    die(errno, "set propagation of %s", a.dest);
  close(fd);
}

// A v1 hierarchy: a fresh mount when the container has its own cgroup namespace, else a bind of
// the container's own directory from the host, never the host's whole tree.
void op_mount_cgroup_v1(plan_reader *r) {
  const op_mount_cgroup_v1_args a = rd_op_mount_cgroup_v1(r);
  int fd = resolve_dest(a.dest, false, CREATE_DIR, 0755, "cgroup");
  char target[64];
  proc_fd(fd, target, sizeof target);
  if (a.hostdir[0]) {
    if (mount(a.hostdir, target, nullptr, MS_BIND | MS_REC, nullptr) < 0) die(errno, "bind %s on %s", a.hostdir, a.dest);
    fd = reopen(fd, a.dest, target, sizeof target);
    if (mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | (unsigned long)a.flags, nullptr) < 0)
      die(errno, "remount %s", a.dest);
  } else if (mount("cgroup", target, "cgroup", (unsigned long)a.flags, a.options) < 0) {
    die(errno, "mount cgroup (%s) on %s", a.options, a.dest);
  }
  close(fd);
}

void op_propagation(plan_reader *r) {
  const op_propagation_args a = rd_op_propagation(r);
  int fd = open_in_root(a.path, CREATE_NONE, 0);
  if (fd < 0) die(errno, "resolve %s", a.path);
  char target[64];
  proc_fd(fd, target, sizeof target);
  if (mount(nullptr, target, nullptr, (unsigned long)a.flags, nullptr) < 0) die(errno, "set propagation of %s", a.path);
  close(fd);
}

void op_pivot_root(plan_reader *r) {
  const op_pivot_root_args a = rd_op_pivot_root(r);
  if (fchdir(g.root_fd) < 0) die(errno, "chdir to rootfs %s", g.rootfs);
  if (a.mode == 2) {
    // No mount namespace of the container's own: the runtime's is shared, so its root stays
    // where it is and the container only changes its own root directory.
    if (chroot(".") < 0) die(errno, "chroot to rootfs %s", g.rootfs);
  } else if (a.mode == 1) {
    // Without pivot_root (e.g. a rootfs on ramfs): move the rootfs over / and chroot into it,
    // with the host's proc and sysfs detached first (no_pivot.cc).
    hide_host_pseudo_fs();
    if (fchdir(g.root_fd) < 0) die(errno, "chdir to rootfs %s", g.rootfs);
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
  const op_readonly_path_args a = rd_op_readonly_path(r);
  int fd = open_in_root(a.path, CREATE_NONE, 0);
  if (fd < 0) {
    if (errno == ENOENT && !a.is_root) return;  // a readonly path that does not exist is skipped
    die(errno, "readonly path %s", a.path);
  }
  char target[64];
  proc_fd(fd, target, sizeof target);
  if (!a.is_root && mount(target, target, nullptr, MS_BIND | MS_REC, nullptr) < 0) die(errno, "bind %s", a.path);
  // The runtime's own paths (readonlyPaths live in /proc by design): not held to mounts[] rules.
  if (!a.is_root) fd = reopen(fd, a.path, target, sizeof target, false, false);
  unsigned long keep = current_flags(target);
  if (mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, nullptr) < 0)
    die(errno, "make %s read-only", a.path);
  close(fd);
}

void op_mask_path(plan_reader *r) {
  const op_mask_path_args a = rd_op_mask_path(r);
  int fd = open_in_root(a.path, CREATE_NONE, 0);
  if (fd < 0) {
    if (errno == ENOENT) return;
    die(errno, "masked path %s", a.path);
  }
  char target[64];
  proc_fd(fd, target, sizeof target);
  struct stat st;
  if (fstat(fd, &st) < 0) die(errno, "stat masked path %s", a.path);
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", target, "tmpfs", MS_RDONLY, "size=0k") < 0) die(errno, "mask directory %s", a.path);
  } else {
    // Mount the real /dev/null device, checked by its numbers, never a file the container
    // could have put at /dev/null (CVE-2025-31133).
    int null_fd = open_in_root("/dev/null", CREATE_NONE, 0);
    struct stat ns;
    if (null_fd < 0 || fstat(null_fd, &ns) < 0 || !S_ISCHR(ns.st_mode) || ns.st_rdev != makedev(1, 3))
      die(EPERM, "mask %s: /dev/null in the container is not the null device", a.path);
    char src[64];
    proc_fd(null_fd, src, sizeof src);
    if (mount(src, target, nullptr, MS_BIND, nullptr) < 0) die(errno, "mask file %s", a.path);
    close(null_fd);
  }
  close(fd);
}
