// The contract between the TypeScript planner (src/plan/encode.ts), the addon that spawns the
// init (addon/parent) and husk-init (addon/init). Change a number here and in
// src/plan/ops.ts together: test/unit/plan-roundtrip.test.mjs decodes TS output with husk-init.
#pragma once
#include <stdint.h>

#define HUSK_PLAN_MAGIC "HUSKPLN1"

enum husk_op : uint32_t {
  OP_SYNC = 1,            // u32 stage: ask the parent to act, wait for its answer
  OP_SETNS = 2,           // u32 nstype, str path
  OP_USERNS = 3,          // unshare a user ns, have the parent write the maps, become root in it
  OP_UNSHARE = 4,         // u64 clone flags
  OP_FORK_INIT = 5,       // the rest runs in a child (pid 1 of a new pid ns); this process exits
  OP_ROOT_PROPAGATION = 6,// u64 flags applied to "/" (recursively)
  OP_BIND_ROOTFS = 7,     // str host path of the rootfs
  OP_MOUNT = 8,           // u32 kind, str source, str dest, str fstype, u64 flags, u64 prop, str data, u64 remount,
                          // u64 recursive attrs to set, u64 to clear, u32 idmapped tree slot
  OP_MKNOD = 9,           // str path, u32 mode, u64 rdev, u32 uid, u32 gid
  OP_SYMLINK = 10,        // str target, str linkpath
  OP_PIVOT_ROOT = 11,     // u32 mode: 0 pivot_root, 1 no_pivot (move + chroot), 2 chroot only
  OP_READONLY_PATH = 12,  // str path, u32 is_root
  OP_MASK_PATH = 13,      // str path
  OP_HOSTNAME = 14,       // str
  OP_DOMAINNAME = 15,     // str
  OP_SYSCTL = 16,         // str key, str value
  OP_RLIMIT = 17,         // u32 resource, u64 soft, u64 hard
  OP_CONSOLE = 18,        // u32 bind /dev/console: make a pty in the container, send the master, make it our tty
  OP_SETSID = 19,
  OP_CREDS = 20,          // u32 uid, u32 gid, u32 ngroups, u32 groups[], u32 keep_groups
  OP_CAPS_BOUNDING = 21,  // u64 keep mask (bits not in it are dropped from the bounding set)
  OP_CAPS_SET = 22,       // u64 effective, permitted, inheritable, ambient
  OP_NO_NEW_PRIVS = 23,
  OP_UMASK = 24,          // u32
  OP_CHDIR = 25,          // str
  OP_WAIT_START = 26,     // block on the exec fifo until `start`
  OP_LOOKUP_EXEC = 27,    // str arg0, str PATH
  OP_EXEC = 28,           // strlist argv, strlist env
  OP_OOM_SCORE_ADJ = 29,  // str value
  OP_PROPAGATION = 30,    // str path, u64 flags (after mounts: propagation of one mount)
  OP_KEEP_CAPS = 31,      // PR_SET_KEEPCAPS 1 so a uid switch keeps the permitted set
  OP_SECCOMP = 32,        // u32 flags, bytes program (struct sock_filter[]); NEW_LISTENER in flags: hand the fd over
  OP_PERSONALITY = 33,    // u64 persona
  OP_MOUNT_CGROUP_V1 = 34,// str dest, str options, str hostdir, u64 flags
  OP_FETCH_STATE = 35,    // u32 stage: like OP_SYNC, then the parent sends the state JSON
  OP_HOOK = 36,           // str path, strv args, strv env, u32 timeout seconds (0: none)
  OP_IOPRIO = 38,         // u32 value (class << 13 | level)
  OP_SCHEDULER = 39,      // u32 policy, u64 flags, i32 nice (u32), u32 priority, u64 runtime, deadline, period
  OP_PROC_WRITE = 40,     // str path under the container's /proc, str value (LSM exec labels)
  OP_SESSION_KEYRING = 37,// str name: join a new session keyring, so containers do not share the caller's
  OP_IDMAP_TREE = 41,     // u32 slot, str source, u32 recursive (1 rbind, 2 ridmap), str uid_map, str gid_map
  OP_JOIN_CGROUP = 42,    // str file: write "0" to it (v1 tasks: this thread; cgroup.procs: this process)
  OP_CGROUP_INTO = 43,    // str dir: OP_FORK_INIT makes the init in this cgroup2 directory (CLONE_INTO_CGROUP)
  OP_NOTIFY = 44,         // u32 stage: as OP_SYNC; the parent answers early (when it learns the init's pid)
  OP_SEAL = 45,           // close every handle on the host (procfs, rootfs, console socket), cwd to "/"
  OP_CTTY = 46,           // the pty slave kept by OP_CONSOLE becomes the controlling tty and stdio
  OP_SOURCE_HELPER = 50,  // strv sources: fork a helper with the host's credentials to open them later
  OP_SOURCE_FDS = 51,     // the helper joins our mount namespace, opens the sources, passes the fds
};

enum husk_stage : uint32_t {
  STAGE_CGROUP = 1,       // parent: put the pid in the container's cgroups
  STAGE_USERMAP = 2,      // parent: write uid_map/gid_map of the pid
  STAGE_CREATE_RUNTIME = 3,
  STAGE_CREATE_CONTAINER = 4,
  STAGE_READY = 10,       // child is set up; next it waits on the exec fifo
};

enum husk_msg_type : uint32_t {
  MSG_SYNC = 1,   // child -> parent: stage reached
  MSG_PID = 2,    // child -> parent: pid of the container's init
  MSG_ERROR = 3,  // child -> parent: op failed
  MSG_SECCOMP_FD = 4, // child -> parent: a seccomp listener fd (SCM_RIGHTS) for the seccomp agent
  MSG_ACK = 16,   // parent -> child: go on
  MSG_ABORT = 17, // parent -> child: give up
  MSG_DATA = 18,  // parent -> child: a husk_msg header followed by `pid` bytes of payload
};

struct husk_msg {
  uint32_t type;
  uint32_t stage;
  uint32_t op;     // index of the op (0-based) the message is about
  int32_t err;     // errno
  int32_t pid;
  char text[492];
};
static_assert(sizeof(struct husk_msg) == 512, "fixed message size");

// Fds husk-init finds at start: base = 3 + preserved fds. -1 slots are closed.
enum husk_fd_slot { FD_SYNC = 0, FD_PLAN = 1, FD_FIFO = 2, FD_CONSOLE = 3, FD_SLOTS = 4 };
