// husk-init: executes a launch plan. Single-threaded, run from a sealed memfd; it decides
// nothing the plan did not say. Each op is one function in a file named for its concern.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "../common/protocol.h"

struct plan_reader {
  const uint8_t *p;
  const uint8_t *end;
  bool ok;
};

uint32_t rd_u32(plan_reader *r);
uint64_t rd_u64(plan_reader *r);
const char *rd_str(plan_reader *r);
// A string list: *n entries, returned as a NULL-terminated array allocated once.
char **rd_strv(plan_reader *r, uint32_t *n);
const uint8_t *rd_bytes(plan_reader *r, uint32_t *len);
// A u32 list: *n values at the returned pointer, not necessarily aligned (read with memcpy).
const uint8_t *rd_u32v(plan_reader *r, uint32_t *n);
// Each op's fields read in the contract's order into a struct (generated from the table).
#include "generated/op_args.h"

struct init_ctx {
  int base_fd;
  int sync_fd;
  int console_fd;
  int proc_fd;            // the host's procfs, opened first thing: how we name our own fds
  int fifo_fd;            // read end of the exec fifo (start writes to it)
  int root_fd;            // O_PATH fd of the rootfs mount (before pivot_root)
  int pty_slave;          // kept by OP_CONSOLE for OP_CTTY
  const char *rootfs;     // host path of the rootfs
  bool pivoted;
  uint32_t op_index;      // op being run, for error reports
  char exec_path[4096];   // resolved by OP_LOOKUP_EXEC
  char home_env[4104];    // "HOME=..." from OP_HOME_FROM_PASSWD, or empty
};

extern init_ctx g;

// report.cc
[[noreturn]] void die(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// _exit that always ends the process: a container's seccomp filter may deny exit_group and exit,
// and musl's _exit then retries them for ever (glibc's faults); a trap needs no system call.
[[noreturn]] void exit_now(int code);
void send_msg(uint32_t type, uint32_t stage, int32_t pid);
void sync_stage(uint32_t stage);
void hand_over_listener(int fd);

// safe_path.cc: open a path inside the rootfs without leaving it; create it when asked.
enum create_kind { CREATE_NONE = 0, CREATE_DIR = 1, CREATE_FILE = 2 };
int open_in_root(const char *path, int create, mode_t mode);
// A directory inside the rootfs reached without following any symlink (made, as directories,
// where missing): where procfs and sysfs go. ELOOP or ENOTDIR when a component is not one.
int open_dir_in_root_nofollow(const char *path);
void fd_path(int fd, char *buf, size_t len);
// A path that names our fd `fd`, for calls that take paths (mount, chmod): "self/fd/N"
// relative to the host procfs handle, which becomes the working directory. Never the
// container's /proc, which a config or a container process may have covered.
const char *fdpath(int fd, char *buf, size_t len);
// Opens a file of the host procfs handle (e.g. "self/oom_score_adj", "sys/net/...").
int proc_open(const char *rel, int flags);
void close_proc(void);
// OP_SEAL: no handle on anything outside the container is left open (see main.cc).
void seal_host(void);
// ops_sources.cc: closes the bind-source fds the helper passed that no mount took.
void close_source_fds(void);

// ops_idmap.cc: detached idmapped trees made by OP_IDMAP_TREE, moved into place by OP_MOUNT.
#define MAX_IDMAP_TREES 32
extern int idmap_trees[MAX_IDMAP_TREES];

// ops_sources.cc: bind sources opened by a helper with the host's privileges (user namespaces).
#define MAX_SOURCE_FDS 64
void op_source_helper(plan_reader *r);
void op_source_fds(plan_reader *r);
// The fd of bind source `slot` (1-based; 0: none), handed over once; -1 when there is none.
int take_source_fd(uint32_t slot);

// OP_MOUNT kinds (mount_kind) and MOUNT_TMPFS options (tmpfs_opts, in the op's slot field) are
// in the contract (generated/contract.h). MOUNT_PROC_HERE's root becomes the procfs handle
// (see op_mount).

// ops_tmpfs.cc: around the mount of a tmpfs on `fd`: the covered directory's stat (and an fd
// of it for the copy), then the copy and the mode on the new tmpfs (fd reopened onto it).
struct stat;
int tmpfs_before(int fd, uint32_t opts, const char *dest, struct stat *covered);
void tmpfs_after(int fd, int lower, uint32_t opts, const char *dest, const struct stat *covered);

// one per concern
void op_idmap_tree(plan_reader *r);
void op_setns(plan_reader *r);
void op_userns(plan_reader *r);
void op_unshare(plan_reader *r);
void op_join_cgroup(plan_reader *r);
void op_cgroup_into(plan_reader *r);
void op_fork_init(plan_reader *r);
void op_root_propagation(plan_reader *r);
void op_bind_rootfs(plan_reader *r);
void op_mount(plan_reader *r);
void op_mount_cgroup_v1(plan_reader *r);
void op_propagation(plan_reader *r);
void op_mknod(plan_reader *r);
void op_symlink(plan_reader *r);
void op_reopen_dev_null();
void op_pivot_root(plan_reader *r);
void hide_host_pseudo_fs(void);  // --no-pivot (no_pivot.cc)
void op_readonly_path(plan_reader *r);
void op_mask_path(plan_reader *r);
void op_hostname(plan_reader *r, bool domain);
void op_sysctl(plan_reader *r);
void op_rlimit(plan_reader *r);
void op_oom_score_adj(plan_reader *r);
void op_personality(plan_reader *r);
void op_ioprio(plan_reader *r);
void op_proc_write(plan_reader *r);
void op_scheduler(plan_reader *r);
void op_console(plan_reader *r);
void op_ctty(plan_reader *r);
void op_creds(plan_reader *r);
void op_keep_caps(plan_reader *r);
void op_caps_bounding(plan_reader *r);
void op_caps_set(plan_reader *r);
void op_seccomp(plan_reader *r);
void op_lookup_exec(plan_reader *r);
void op_home_from_passwd(plan_reader *r);
void op_fetch_state(plan_reader *r);
void op_hook(plan_reader *r);
void op_wait_start(plan_reader *r);
void op_start_hooks_passed();
[[noreturn]] void op_exec(plan_reader *r);
