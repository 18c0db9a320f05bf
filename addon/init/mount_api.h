#pragma once
// The mount calls of husk-init. glibc (2.36 and later) declares the new mount API (open_tree,
// move_mount, mount_setattr) in <sys/mount.h>; musl, whose static start-up costs a quarter of a
// millisecond less than glibc's, does not, and its kernel constants come from <linux/mount.h>
// (which clashes with glibc's header, so it is read only without glibc).
#include <sys/mount.h>
#ifndef __GLIBC__
#include <linux/mount.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int open_tree(int dfd, const char *path, unsigned flags) {
  return (int)syscall(SYS_open_tree, dfd, path, flags);
}
static inline int move_mount(int from_dfd, const char *from, int to_dfd, const char *to, unsigned flags) {
  return (int)syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags);
}
static inline int mount_setattr(int dfd, const char *path, unsigned flags, struct mount_attr *attr, size_t size) {
  return (int)syscall(SYS_mount_setattr, dfd, path, flags, attr, size);
}
#endif
