// process.terminal: the pty is made inside the container (its devpts), the master is sent to
// the --console-socket with SCM_RIGHTS, and the slave becomes our controlling tty and stdio
// (OP_CTTY).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <termios.h>
#include <unistd.h>
#include "init.h"
#include "../common/one_fd.h"

#ifndef DEVPTS_SUPER_MAGIC
#define DEVPTS_SUPER_MAGIC 0x1cd1
#endif

static void send_fd(int sock, int fd, const char *name) {
  one_fd_msg om;
  struct msghdr *mh = one_fd_init(&om, (void *)name, strlen(name), fd, true);
  if (sendmsg(sock, mh, MSG_NOSIGNAL) < 0) die(errno, "send the pty master to the console socket");
}

void op_console(plan_reader *r) {
  const op_console_args a = rd_op_console(r);
  if (g.console_fd < 0) die(EINVAL, "process.terminal needs --console-socket");
  int ptmx_path = open_in_root("/dev/pts/ptmx", CREATE_NONE, 0);
  if (ptmx_path < 0) die(errno, "open /dev/pts/ptmx (is devpts mounted at /dev/pts?)");
  char p[64];
  int master = open(fdpath(ptmx_path, p, sizeof p), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) die(errno, "open /dev/pts/ptmx");
  close(ptmx_path);
  struct statfs sf;
  if (fstatfs(master, &sf) < 0 || sf.f_type != DEVPTS_SUPER_MAGIC) die(EPERM, "/dev/pts/ptmx is not on devpts");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) die(errno, "unlock pty");
  // TIOCGPTPEER opens the slave through the master, so no path the container controls is used
  // (CVE-2025-52565 class).
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) die(errno, "open pty slave");
  // The process's own terminal is its user's (as runc: it can reopen it, and mesg/write work);
  // the group stays devpts' (gid= of the mount, tty in most images). A uid the user namespace
  // does not map (EINVAL), an inode it cannot change (EPERM) or a read-only /dev leave it as is.
  if (fchown(slave, (uid_t)a.owner, (gid_t)-1) < 0 && errno != EINVAL && errno != EPERM && errno != EROFS)
    die(errno, "chown the pty to uid %u", a.owner);
  if (a.raw_output) {
    struct termios t;
    if (tcgetattr(slave, &t) < 0) die(errno, "read the pty's termios");
    t.c_oflag &= ~ONLCR;
    if (tcsetattr(slave, TCSANOW, &t) < 0) die(errno, "clear ONLCR on the pty");
  }
  unsigned int n = 0;
  if (ioctl(master, TIOCGPTN, &n) < 0) die(errno, "pty number");
  send_fd(g.console_fd, master, "/dev/ptmx");
  close(master);
  close(g.console_fd);
  g.console_fd = -1;

  // /dev/console is the slave, bound onto a file made inside the rootfs.
  int cons = a.bind_console ? open_in_root("/dev/console", CREATE_FILE, 0600) : -1;
  if (cons >= 0) {
    char tgt[64], src[64];
    fdpath(cons, tgt, sizeof tgt);
    fdpath(slave, src, sizeof src);
    if (mount(src, tgt, nullptr, MS_BIND, nullptr) < 0) die(errno, "bind pty %u on /dev/console", n);
    close(cons);
  }
  g.pty_slave = slave;
}

// Apart from OP_CONSOLE, which needs the host procfs handle: an exec'd process opens its pty
// before the fork into the container's pid namespace and takes it as its terminal after, in
// its own session.
void op_ctty(plan_reader *) {
  if (g.pty_slave < 0) die(EINVAL, "malformed plan: no pty before the controlling terminal");
  if (ioctl(g.pty_slave, TIOCSCTTY, 0) < 0) die(errno, "make the pty the controlling terminal");
  for (int fd = 0; fd < 3; fd++)
    if (dup3(g.pty_slave, fd, 0) < 0) die(errno, "dup pty to fd %d", fd);
  close(g.pty_slave);
  g.pty_slave = -1;
}
