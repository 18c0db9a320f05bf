// Idmapped mounts: a detached copy of the source tree (open_tree) marked with a user namespace
// that holds the mount's mappings (mount_setattr MOUNT_ATTR_IDMAP). Made in the first process,
// while it still has the host's privileges over the source's filesystem; the container's init
// later moves it onto its destination (op_mount, kind MOUNT_IDMAPPED).
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "mount_api.h"
#include <sys/wait.h>
#include <unistd.h>
#include "init.h"

int idmap_trees[MAX_IDMAP_TREES] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};

static void write_map(pid_t pid, const char *file, const char *map, const char *source) {
  char rel[64];
  snprintf(rel, sizeof rel, "%d/%s", (int)pid, file);
  int fd = proc_open(rel, O_WRONLY);
  if (fd < 0) die(errno, "idmapped mount of %s: open %s", source, file);
  size_t len = strlen(map);
  if (write(fd, map, len) != (ssize_t)len) die(errno, "idmapped mount of %s: write %s", source, file);
  close(fd);
}

// A user namespace holding the maps: a helper child unshares one and waits; we write its maps
// and keep a handle to it. We are single-threaded, so the child may run ordinary code.
static int userns_with_maps(const char *uid_map, const char *gid_map, const char *source) {
  int ready[2], hold[2];
  if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(hold, O_CLOEXEC) < 0) die(errno, "idmapped mount: pipe");
  pid_t pid = fork();
  if (pid < 0) die(errno, "idmapped mount: fork the user namespace helper");
  if (pid == 0) {
    close(ready[0]);
    close(hold[1]);  // else our own copy would keep the read below from ever seeing EOF
    char c = unshare(CLONE_NEWUSER) == 0 ? 1 : 0;
    if (write(ready[1], &c, 1) != 1) exit_now(1);
    // Until the parent has opened our namespace and closes its end.
    ssize_t n = read(hold[0], &c, 1);
    exit_now(n < 0 ? 1 : 0);
  }
  close(ready[1]);
  close(hold[0]);
  char c = 0;
  if (read(ready[0], &c, 1) != 1 || c != 1) {
    // Let the helper go before waiting for it: it waits for this end to close.
    close(hold[1]);
    close(ready[0]);
    waitpid(pid, nullptr, 0);
    die(EPERM, "idmapped mount of %s: the helper could not make a user namespace", source);
  }
  close(ready[0]);
  write_map(pid, "uid_map", uid_map, source);
  write_map(pid, "gid_map", gid_map, source);
  char rel[64];
  snprintf(rel, sizeof rel, "%d/ns/user", (int)pid);
  // ns/user is a magic link, which proc_open refuses to follow; our own child's is safe to.
  int ns = openat(g.proc_fd, rel, O_RDONLY | O_CLOEXEC);
  int e = errno;
  close(hold[1]);
  waitpid(pid, nullptr, 0);
  if (ns < 0) die(e, "idmapped mount of %s: open the helper's user namespace", source);
  return ns;
}

void op_idmap_tree(plan_reader *r) {
  const op_idmap_tree_args a = rd_op_idmap_tree(r);
  if (a.slot >= MAX_IDMAP_TREES || idmap_trees[a.slot] >= 0) die(EINVAL, "malformed plan: idmap slot %u", a.slot);
  int ns = userns_with_maps(a.uid_map, a.gid_map, a.source);
  int tree = open_tree(AT_FDCWD, a.source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (a.recursive & 1 ? AT_RECURSIVE : 0));
  if (tree < 0) die(errno, "idmapped mount: open_tree %s", a.source);
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = (uint64_t)ns;
  if (mount_setattr(tree, "", AT_EMPTY_PATH | (a.recursive & 2 ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0)
    die(errno, "idmapped mount: map the ids of %s (does its filesystem support idmapped mounts?)", a.source);
  close(ns);
  idmap_trees[a.slot] = tree;
}
