// husk-init entry: map the plan, run its ops in order. Started by the addon as
//   husk-init <base-fd>
// with the sync socket, plan memfd, state dir and console socket at base-fd + slot.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "init.h"

init_ctx g = {-1, -1, -1, -1, -1, -1, -1, nullptr, false, 0, {0}};

static void run_op(uint32_t code, plan_reader *r) {
  switch (code) {
    case OP_SYNC: sync_stage(rd_op_sync(r).stage); break;
    case OP_NOTIFY: sync_stage(rd_op_notify(r).stage); break;
    case OP_SETNS: op_setns(r); break;
    case OP_IDMAP_TREE: op_idmap_tree(r); break;
    case OP_SOURCE_HELPER: op_source_helper(r); break;
    case OP_SOURCE_FDS: op_source_fds(r); break;
    case OP_USERNS: op_userns(r); break;
    case OP_UNSHARE: op_unshare(r); break;
    case OP_JOIN_CGROUP: op_join_cgroup(r); break;
    case OP_CGROUP_INTO: op_cgroup_into(r); break;
    case OP_FORK_INIT: op_fork_init(r); break;
    case OP_ROOT_PROPAGATION: op_root_propagation(r); break;
    case OP_BIND_ROOTFS: op_bind_rootfs(r); break;
    case OP_MOUNT: op_mount(r); break;
    case OP_MOUNT_CGROUP_V1: op_mount_cgroup_v1(r); break;
    case OP_PROPAGATION: op_propagation(r); break;
    case OP_MKNOD: op_mknod(r); break;
    case OP_SYMLINK: op_symlink(r); break;
    case OP_PIVOT_ROOT: op_pivot_root(r); break;
    case OP_READONLY_PATH: op_readonly_path(r); break;
    case OP_MASK_PATH: op_mask_path(r); break;
    case OP_HOSTNAME: op_hostname(r, false); break;
    case OP_DOMAINNAME: op_hostname(r, true); break;
    case OP_SYSCTL: op_sysctl(r); break;
    case OP_RLIMIT: op_rlimit(r); break;
    case OP_OOM_SCORE_ADJ: op_oom_score_adj(r); break;
    case OP_PERSONALITY: op_personality(r); break;
    case OP_IOPRIO: op_ioprio(r); break;
    case OP_PROC_WRITE: op_proc_write(r); break;
    case OP_SCHEDULER: op_scheduler(r); break;
    case OP_CONSOLE: op_console(r); break;
    case OP_CTTY: op_ctty(r); break;
    case OP_SEAL: seal_host(); break;
    case OP_SETSID:
      if (setsid() < 0) die(errno, "setsid");
      break;
    case OP_CREDS: op_creds(r); break;
    case OP_KEEP_CAPS: op_keep_caps(r); break;
    case OP_CAPS_BOUNDING: op_caps_bounding(r); break;
    case OP_CAPS_SET: op_caps_set(r); break;
    case OP_NO_NEW_PRIVS:
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die(errno, "no_new_privs");
      break;
    case OP_SECCOMP: op_seccomp(r); break;
    case OP_UMASK: umask((mode_t)rd_op_umask(r).mask); break;
    case OP_CHDIR: {
      const char *cwd = rd_op_chdir(r).cwd;
      // Nothing after this names an fd or writes procfs: the host procfs handle goes before
      // anything of the container's can run next to us.
      close_proc();
      if (chdir(cwd) < 0) die(errno, "chdir to cwd %s", cwd);
      // A cwd reached through a leaked host fd lies outside our root (CVE-2024-21626).
      char buf[4096];
      if (!getcwd(buf, sizeof buf) || buf[0] != '/') die(EPERM, "cwd %s is outside the container", cwd);
      break;
    }
    case OP_LOOKUP_EXEC: op_lookup_exec(r); break;
    case OP_HOME_FROM_PASSWD: op_home_from_passwd(r); break;
    case OP_REOPEN_DEV_NULL: op_reopen_dev_null(); break;
    case OP_FETCH_STATE: op_fetch_state(r); break;
    case OP_HOOK: op_hook(r); break;
    case OP_SESSION_KEYRING: {
      const char *name = rd_op_session_keyring(r).name;
      // KEYCTL_JOIN_SESSION_KEYRING; kernels without keys (ENOSYS) are fine, as in runc.
      if (syscall(SYS_keyctl, 1, name) < 0 && errno != ENOSYS && errno != EPERM) die(errno, "join session keyring %s", name);
      break;
    }
    case OP_WAIT_START: op_wait_start(r); break;
    case OP_START_HOOKS_PASSED: op_start_hooks_passed(); break;
    case OP_EXEC: op_exec(r);
    default: die(EINVAL, "malformed plan: unknown op %u", code);
  }
}

// `husk-init --decode` prints the ops of a plan on stdin: the round-trip test of the encoder.
static int decode(const uint8_t *buf, size_t len);

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--decode") == 0) {
    static uint8_t buf[1 << 22];
    size_t len = fread(buf, 1, sizeof buf, stdin);
    return decode(buf, len);
  }
  if (argc != 2) {
    fprintf(stderr, "husk-init is started by husk; it is not meant to be run by hand\n");
    return 2;
  }
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // A name of our own: the kernel's name for a process exec'd from a memfd differs across
  // versions ("memfd:husk-init", or the fd number before 6.14), and `start` tells an init that
  // died in a startContainer hook by it (see awaitProgram).
  prctl(PR_SET_NAME, "husk-init", 0, 0, 0);
  // The runtime blocked every signal around vfork and Node ignores SIGPIPE: none of that is
  // the container's.
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  // A write to a socket the runtime closed must fail with EPIPE, not kill us; op_exec puts the
  // default back for the container's program.
  signal(SIGPIPE, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  int base = atoi(argv[1]);
  g.sync_fd = base + FD_SYNC;
  g.fifo_fd = base + FD_FIFO;
  g.console_fd = base + FD_CONSOLE;
  int plan_fd = base + FD_PLAN;
  // Whatever else the caller left open (containerd's shim leaves its socket) is not ours.
  syscall(SYS_close_range, base + FD_SLOTS, ~0U, 0);
  if (fcntl(g.console_fd, F_GETFD) < 0) g.console_fd = -1;
  if (fcntl(g.fifo_fd, F_GETFD) < 0) g.fifo_fd = -1;
  // The host's procfs, before any namespace or mount changes: every later reference to our own
  // fds and every procfs write goes through it (see fdpath in safe_path.cc).
  g.proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct statfs pfs;
  if (g.proc_fd < 0 || fstatfs(g.proc_fd, &pfs) < 0 || pfs.f_type != PROC_SUPER_MAGIC)
    die(EPERM, "/proc of the runtime is not procfs");
  for (int fd = base; fd < base + FD_SLOTS; fd++)
    if (fd != plan_fd) fcntl(fd, F_SETFD, FD_CLOEXEC);

  struct stat st;
  if (fstat(plan_fd, &st) < 0) die(errno, "plan fd");
  void *map = mmap(nullptr, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, plan_fd, 0);
  if (map == MAP_FAILED) die(errno, "map plan");
  close(plan_fd);
  plan_reader r = {(const uint8_t *)map, (const uint8_t *)map + st.st_size, true};
  if (st.st_size < 16 || memcmp(r.p, HUSK_PLAN_MAGIC, 8) != 0) die(EINVAL, "malformed plan: bad magic");
  r.p += 8;
  rd_u32(&r);  // flags, reserved
  uint32_t count = rd_u32(&r);
  for (uint32_t i = 0; i < count; i++) {
    g.op_index = i;
    uint32_t code = rd_u32(&r);
    uint32_t len = rd_u32(&r);
    if ((size_t)(r.end - r.p) < len) die(EINVAL, "malformed plan: op %u overruns", i);
    plan_reader body = {r.p, r.p + len, true};
    r.p += len;
    run_op(code, &body);
  }
  die(EINVAL, "malformed plan: no exec op");
}

static void print_hex(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
}

// One op's body, field by field as the contract lays it out: "  name kind:value" lines, with
// strings and bytes in hex so any content prints on one line. False when the body does not
// hold exactly those fields.
static bool decode_body(const op_layout *l, plan_reader *b) {
  const char *name = l->fields;
  for (const char *k = l->kinds; *k; k++) {
    size_t nlen = strcspn(name, " ");
    printf("  %.*s %c:", (int)nlen, name, *k);
    name += nlen + (name[nlen] == ' ');
    uint32_t n;
    switch (*k) {
      case 'u': printf("%u", rd_u32(b)); break;
      case 'i': printf("%d", (int32_t)rd_u32(b)); break;
      case 'U': printf("%llu", (unsigned long long)rd_u64(b)); break;
      case 's': {
        const char *s = rd_str(b);
        print_hex((const uint8_t *)s, strlen(s));
        break;
      }
      case 'S': {
        char **v = rd_strv(b, &n);
        printf("%u", n);
        for (uint32_t i = 0; i < n; i++) {
          printf(" ");
          print_hex((const uint8_t *)v[i], strlen(v[i]));
        }
        free(v);
        break;
      }
      case 'v': {
        const uint8_t *v = rd_u32v(b, &n);
        printf("%u", n);
        for (uint32_t i = 0; i < n; i++) {
          uint32_t x;
          memcpy(&x, v + 4 * (size_t)i, 4);
          printf(" %u", x);
        }
        break;
      }
      case 'b': {
        const uint8_t *v = rd_bytes(b, &n);
        printf("%u ", n);
        print_hex(v, n);
        break;
      }
    }
    printf("\n");
  }
  return b->p == b->end;
}

// "N ops contract HASH", then per op "index code bodylen NAME" and its fields. Exits 0 only if
// every op is known and the buffer is consumed exactly.
static int decode(const uint8_t *buf, size_t len) {
  plan_reader r = {buf, buf + len, true};
  if (len < 16 || memcmp(buf, HUSK_PLAN_MAGIC, 8) != 0) {
    fprintf(stderr, "bad magic\n");
    return 1;
  }
  r.p += 8;
  rd_u32(&r);
  uint32_t count = rd_u32(&r);
  printf("%u ops contract %s\n", count, HUSK_CONTRACT_HASH);
  for (uint32_t i = 0; i < count; i++) {
    uint32_t code = rd_u32(&r);
    uint32_t blen = rd_u32(&r);
    const op_layout *l = op_layout_of(code);
    printf("%u %u %u %s\n", i, code, blen, l ? l->name : "?");
    if ((size_t)(r.end - r.p) < blen) return 1;
    plan_reader body = {r.p, r.p + blen, true};
    r.p += blen;
    if (!l) {
      fprintf(stderr, "op %u: unknown code %u\n", i, code);
      return 1;
    }
    if (!decode_body(l, &body)) {
      fprintf(stderr, "op %u (%s): %zu bytes after its fields\n", i, l->name, (size_t)(body.end - body.p));
      return 1;
    }
  }
  return r.p == r.end ? 0 : 1;
}
