// The `husk` that engines exec. When a husk server runs for this user (`husk server`), the call
// is handed to it: the server does the work in its already started Node process, and this
// process only starts the container's init when asked (so the init is the caller's descendant,
// as under runc, and an engine's subreaper gets it) and waits for it. With no server, or one the
// server declines, this process becomes the ordinary Node CLI (bin/husk.js). Plain C and no
// allocation after the first message, so the hand-off costs well under a millisecond.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/fds_msg.h"
#include "../common/front_protocol.h"
#include "../common/launch.h"

extern char **environ;

// The Node CLI: bin/husk.js two levels above build/Release/husk.
[[noreturn]] static void run_in_node(char **argv) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    fprintf(stderr, "husk: readlink /proc/self/exe: %s\n", strerror(errno));
    _exit(127);
  }
  exe[n] = '\0';
  for (int up = 0; up < 3; up++) {
    char *slash = strrchr(exe, '/');
    if (!slash) break;
    *slash = '\0';
  }
  char entry[PATH_MAX + 16];
  snprintf(entry, sizeof entry, "%s/bin/husk.js", exe);
  int argc = 0;
  while (argv[argc]) argc++;
  char **nargv = (char **)calloc((size_t)argc + 2, sizeof(char *));
  if (!nargv) _exit(127);
  nargv[0] = (char *)"node";
  nargv[1] = entry;
  for (int i = 1; i < argc; i++) nargv[i + 1] = argv[i];
  // Node reads these certificates at start-up (~70 ms here); husk makes no TLS connections.
  unsetenv("NODE_EXTRA_CA_CERTS");
  execvp("node", nargv);
  fprintf(stderr, "husk: run node: %s\n", strerror(errno));
  _exit(127);
}

static int server_socket_path(char *out, size_t len) {
  const char *dir = getenv("HUSK_SERVER_DIR");
  char buf[PATH_MAX];
  if (!dir || !*dir) {
    if (geteuid() == 0) {
      dir = "/run/husk-server";
    } else {
      const char *xdg = getenv("XDG_RUNTIME_DIR");
      if (!xdg || !*xdg) return -1;
      snprintf(buf, sizeof buf, "%s/husk-server", xdg);
      dir = buf;
    }
  }
  int n = snprintf(out, len, "%s/" HUSK_SERVER_SOCKET, dir);
  return n > 0 && (size_t)n < len ? 0 : -1;
}

// Whether `ancestor` started this process, directly or not. A hook the server runs (prestart,
// poststart, poststop) that calls husk must not wait for a server that is busy waiting for it.
static bool descends_from(pid_t ancestor) {
  pid_t p = getppid();
  for (int depth = 0; depth < 64 && p > 1; depth++) {
    if (p == ancestor) return true;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)p);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    // "pid (comm) state ppid ...": comm may hold anything, so look after its last ')'.
    char *end = strrchr(buf, ')');
    int ppid;
    if (!end || sscanf(end + 1, " %*c %d", &ppid) != 1) return false;
    p = ppid;
  }
  return false;
}

// A connection to a server run by this very user, or -1.
static int connect_server(void) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (server_socket_path(sa.sun_path, sizeof sa.sun_path) < 0) return -1;
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
    close(s);
    return -1;
  }
  struct ucred cred;
  socklen_t cl = sizeof cred;
  if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != geteuid() || descends_from(cred.pid)) {
    close(s);
    return -1;
  }
  // Far above the fds a container may be handed (--preserve-fds), so none of them is this.
  int high = fcntl(s, F_DUPFD_CLOEXEC, 1000);
  if (high >= 0) {
    close(s);
    s = high;
  }
  return s;
}

static int send_reply(int s, uint32_t type, int32_t a, int32_t b) {
  struct husk_front_msg m = {type, a, b, 0};
  return send_with_fds(s, &m, sizeof m, nullptr, 0) == (ssize_t)sizeof m ? 0 : -1;
}

// The call as the server reads it: cwd, arguments, environment.
static char *build_request(char **argv, size_t *len) {
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return nullptr;
  int argc = 0, envc = 0;
  size_t size = sizeof(struct husk_front_msg) + strlen(cwd) + 1;
  for (char **a = argv + 1; *a; a++, argc++) size += strlen(*a) + 1;
  for (char **e = environ; *e; e++, envc++) size += strlen(*e) + 1;
  char *buf = (char *)malloc(size);
  if (!buf) return nullptr;
  mode_t mask = umask(0);
  umask(mask);
  struct husk_front_msg m = {FRONT_REQUEST, argc, envc, (uint32_t)mask};
  memcpy(buf, &m, sizeof m);
  char *p = buf + sizeof m;
  p = stpcpy(p, cwd) + 1;
  for (char **a = argv + 1; *a; a++) p = stpcpy(p, *a) + 1;
  for (char **e = environ; *e; e++) p = stpcpy(p, *e) + 1;
  *len = size;
  return buf;
}

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};
static volatile sig_atomic_t forward_to = 0;

static void forward(int sig) {
  int saved = errno;
  pid_t to = forward_to;
  if (to > 0) {
    kill(to, sig);
  } else {
    // Forwarding was stopped as the signal came: what it would have done without us.
    signal(sig, SIG_DFL);
    raise(sig);
  }
  errno = saved;
}

// While the container's process runs, the signals this process gets are its, as with `runc run`
// (from the moment the server knows the process, before it is started, as the Node CLI does).
static void forward_signals(pid_t pid) {
  forward_to = pid;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = pid > 0 ? forward : SIG_DFL;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : forwarded) sigaction(sig, &sa, nullptr);
}

static void close_all(const int *fds, int n) {
  for (int i = 0; i < n; i++)
    if (fds[i] >= 0) close(fds[i]);
}

static int spawn(const struct husk_front_msg &m, const int *fds, int nfds) {
  if (nfds < 1) return -EPROTO;
  int slots[FD_SLOTS];
  int used = 1;
  for (int i = 0; i < FD_SLOTS; i++) {
    slots[i] = -1;
    if (m.c & (1u << i)) {
      if (used >= nfds) return -EPROTO;
      slots[i] = fds[used++];
    }
  }
  const int stdio[3] = {-1, -1, -1};
  const char *what = "";
  return launch_init(fds[0], slots, m.a, stdio, &what);
}

int main(int argc, char **argv) {
  (void)argc;
  int s = connect_server();
  if (s < 0) run_in_node(argv);
  size_t len = 0;
  char *req = build_request(argv, &len);
  static const int stdio[3] = {0, 1, 2};
  // A closed stdio fd cannot be handed over; the ordinary CLI copes with one.
  bool stdio_open = fcntl(0, F_GETFD) >= 0 && fcntl(1, F_GETFD) >= 0 && fcntl(2, F_GETFD) >= 0;
  if (!req || !stdio_open || send_with_fds(s, req, len, stdio, 3) != (ssize_t)len) {
    close(s);
    run_in_node(argv);
  }
  free(req);

  for (;;) {
    struct husk_front_msg m;
    int fds[HUSK_FRONT_MAX_FDS];
    int nfds = 0;
    ssize_t got = recv_with_fds(s, &m, sizeof m, fds, &nfds, 0);
    if (got != (ssize_t)sizeof m) {
      close_all(fds, nfds);
      fprintf(stderr, "husk: the husk server went away during the call\n");
      return 1;
    }
    switch (m.type) {
      case FRONT_FALLBACK:
        close_all(fds, nfds);
        close(s);
        run_in_node(argv);
      case FRONT_SPAWN: {
        int pid = spawn(m, fds, nfds);
        close_all(fds, nfds);
        if (send_reply(s, FRONT_SPAWNED, pid > 0 ? pid : 0, pid > 0 ? 0 : pid) < 0) return 1;
        break;
      }
      case FRONT_REAP: {
        close_all(fds, nfds);
        int st;
        while (m.a > 0 && waitpid(m.a, &st, __WALL) < 0 && errno == EINTR) {
        }
        break;
      }
      case FRONT_FORWARD:
        close_all(fds, nfds);
        forward_signals(m.a);
        if (m.a > 0 && send_reply(s, FRONT_FORWARDING, m.a, 0) < 0) return 1;
        break;
      case FRONT_WAIT: {
        close_all(fds, nfds);
        // Never waitpid(-1) or a process group: only the one process named.
        if (m.a <= 0) {
          fprintf(stderr, "husk: the husk server asked to wait for pid %d\n", m.a);
          return 1;
        }
        forward_signals(m.a);
        int st = 0;
        int rc;
        do rc = waitpid(m.a, &st, __WALL);
        while (rc < 0 && errno == EINTR);
        forward_signals(0);
        // Not our child (should not happen): report it as killed rather than as a success.
        if (rc < 0) st = SIGKILL;
        if (send_reply(s, FRONT_EXITED, st, 0) < 0) return 1;
        break;
      }
      case FRONT_DONE:
        close_all(fds, nfds);
        return m.a;
      default:
        close_all(fds, nfds);
        fprintf(stderr, "husk: unexpected message %u from the husk server\n", m.type);
        return 1;
    }
  }
}
