// N-API glue only: argument checks and conversions around the functions in parent/.
#include <napi.h>
#include <uv.h>

#include <functional>
#include <vector>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fds_msg.h"
#include "common/one_fd.h"
#include "common/protocol.h"
#include "parent/bpf.h"
#include "parent/console.h"
#include "parent/seccomp.h"
#include "parent/spawn.h"
#include "parent/unix_stream.h"

static Napi::Error errno_error(Napi::Env env, int err, const std::string &what) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, err == ENOENT ? "ENOENT" : err == EEXIST ? "EEXIST" : err == ESRCH ? "ESRCH" : "EOTHER"));
  return e;
}

// The request of spawn and prepareSpawn; the plan stays in the buffer `o` holds.
static spawn_request spawn_request_of(Napi::Object o) {
  Napi::Buffer<uint8_t> plan = o.Get("plan").As<Napi::Buffer<uint8_t>>();
  spawn_request req;
  req.init_path = o.Get("initPath").As<Napi::String>().Utf8Value();
  req.plan = plan.Data();
  req.plan_len = plan.Length();
  if (o.Has("fifo") && o.Get("fifo").IsString()) req.fifo = o.Get("fifo").As<Napi::String>().Utf8Value();
  if (o.Has("consoleSocket") && o.Get("consoleSocket").IsString())
    req.console_socket = o.Get("consoleSocket").As<Napi::String>().Utf8Value();
  req.preserve_fds = o.Has("preserveFds") ? o.Get("preserveFds").As<Napi::Number>().Int32Value() : 0;
  if (o.Has("stdio") && o.Get("stdio").IsArray()) {
    Napi::Array a = o.Get("stdio").As<Napi::Array>();
    for (uint32_t i = 0; i < 3 && i < a.Length(); i++)
      if (a.Get(i).IsNumber()) req.stdio[i] = a.Get(i).As<Napi::Number>().Int32Value();
  }
  return req;
}

static Napi::Value Spawn(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  spawn_request req = spawn_request_of(o);
  spawn_result res;
  const char *what = "spawn";
  int rc = spawn_init(req, &res, &what);
  if (rc < 0) throw errno_error(env, -rc, what);
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", res.pid);
  out.Set("syncFd", res.sync_fd);
  return out;
}

// spawn on a thread of the pool: vfork suspends only the calling thread, so the event loop goes
// on (create makes the cgroup directories meanwhile). The plan is copied: the caller's buffer
// may be collected before the thread runs.
class SpawnWorker : public Napi::AsyncWorker {
 public:
  SpawnWorker(Napi::Env env, spawn_request req)
      : Napi::AsyncWorker(env), req_(std::move(req)), plan_(req_.plan, req_.plan + req_.plan_len),
        deferred_(Napi::Promise::Deferred::New(env)) {
    req_.plan = plan_.data();
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { rc_ = spawn_init(req_, &res_, &what_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (rc_ < 0) {
      deferred_.Reject(errno_error(env, -rc_, what_).Value());
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("pid", res_.pid);
    out.Set("syncFd", res_.sync_fd);
    deferred_.Resolve(out);
  }

 private:
  spawn_request req_;
  std::vector<uint8_t> plan_;
  spawn_result res_ = {-1, -1};
  const char *what_ = "spawn";
  int rc_ = 0;
  Napi::Promise::Deferred deferred_;
};

static Napi::Value SpawnAsync(const Napi::CallbackInfo &info) {
  auto *w = new SpawnWorker(info.Env(), spawn_request_of(info[0].As<Napi::Object>()));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// The next message from the init: 1 with *m (and *passed, a seccomp listener fd or -1), 0 when
// the init closed its end, or -errno (ETIMEDOUT when nothing came in time; what names the step).
static int recv_msg(int fd, int timeout, husk_msg *m, int *passed, const char **what) {
  *passed = -1;
  struct pollfd p = {fd, POLLIN, 0};
  int n;
  do n = poll(&p, 1, timeout);
  while (n < 0 && errno == EINTR);
  *what = "sync: poll";
  if (n < 0) return -errno;
  *what = "sync: no answer from the container init";
  if (n == 0) return -ETIMEDOUT;
  one_fd_msg om;
  struct msghdr *mh = one_fd_init(&om, m, sizeof *m, -1, true);
  ssize_t got;
  do got = recvmsg(fd, mh, MSG_CMSG_CLOEXEC);
  while (got < 0 && errno == EINTR);
  // An init that exits with an answer of ours unread makes the kernel report ECONNRESET here
  // once, ahead of what it sent before it went (its error): look again for that.
  if (got < 0 && errno == ECONNRESET) {
    mh = one_fd_init(&om, m, sizeof *m, -1, true);
    do got = recvmsg(fd, mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    while (got < 0 && errno == EINTR);
    if (got < 0 && errno == EAGAIN) errno = ECONNRESET;
  }
  int err = errno;
  // Only a seccomp listener message carries an fd; one on any other message is not kept.
  int fdin = one_fd_take(mh);
  if (fdin >= 0 && (got != (ssize_t)sizeof *m || m->type != MSG_SECCOMP_FD)) {
    close(fdin);
    fdin = -1;
  }
  if (got == 0 || (got < 0 && err == ECONNRESET)) return 0;
  *what = "sync: recv";
  if (got < 0) return -err;
  *what = "sync: short message";
  if (got != (ssize_t)sizeof *m) return -EPROTO;
  *what = "sync: seccomp listener message without an fd";
  if (m->type == MSG_SECCOMP_FD && fdin < 0) return -EPROTO;
  *passed = fdin;
  m->text[sizeof m->text - 1] = '\0';
  return 1;
}

static Napi::Value msg_object(Napi::Env env, const husk_msg &m, int passed) {
  Napi::Object o = Napi::Object::New(env);
  if (passed >= 0) o.Set("fd", passed);
  o.Set("type", m.type);
  o.Set("stage", m.stage);
  o.Set("op", m.op);
  o.Set("errno", m.err);
  o.Set("pid", m.pid);
  o.Set("text", std::string(m.text));
  if (m.err) o.Set("errnoText", std::string(strerror(m.err)));
  return o;
}

// Blocks until the next message from the init, or its death (null), or the timeout.
static Napi::Value Recv(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  husk_msg m;
  int passed;
  const char *what;
  int rc = recv_msg(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(), &m, &passed, &what);
  if (rc < 0) throw errno_error(env, -rc, what);
  if (rc == 0) return env.Null();
  return msg_object(env, m, passed);
}

// One write of a small file on the thread pool, in the background: resolves to 0 or an errno,
// never rejects (for writes whose only value is a head start, see primeCgroupAttach).
class WriteWorker : public Napi::AsyncWorker {
 public:
  WriteWorker(Napi::Env env, std::string path, std::string data)
      : Napi::AsyncWorker(env), path_(std::move(path)), data_(std::move(data)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    int fd = open(path_.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      err_ = errno;
      return;
    }
    if (write(fd, data_.data(), data_.size()) != (ssize_t)data_.size()) err_ = errno ? errno : EIO;
    close(fd);
  }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), err_)); }

 private:
  std::string path_, data_;
  int err_ = 0;
  Napi::Promise::Deferred deferred_;
};

// rmdir of each path in order, on the thread pool: resolves to the errno of each (0: removed).
// Lets delete remove a stopped container's cgroups while the main thread removes its state.
class RmdirsWorker : public Napi::AsyncWorker {
 public:
  RmdirsWorker(Napi::Env env, std::vector<std::string> paths)
      : Napi::AsyncWorker(env), paths_(std::move(paths)), errs_(paths_.size(), 0), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    for (size_t i = 0; i < paths_.size(); i++)
      if (rmdir(paths_[i].c_str()) < 0) errs_[i] = errno;
  }
  void OnOK() override {
    Napi::Array a = Napi::Array::New(Env(), errs_.size());
    for (size_t i = 0; i < errs_.size(); i++) a.Set((uint32_t)i, Napi::Number::New(Env(), errs_[i]));
    deferred_.Resolve(a);
  }

 private:
  std::vector<std::string> paths_;
  std::vector<int> errs_;
  Napi::Promise::Deferred deferred_;
};

static Napi::Value RmdirsInBackground(const Napi::CallbackInfo &info) {
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<std::string> paths;
  for (uint32_t i = 0; i < arr.Length(); i++) paths.push_back(arr.Get(i).As<Napi::String>().Utf8Value());
  auto *w = new RmdirsWorker(info.Env(), std::move(paths));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

static Napi::Value WriteInBackground(const Napi::CallbackInfo &info) {
  auto *w = new WriteWorker(info.Env(), info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// A pidfd of any process (ours or not), -1 when there is no such process.
static Napi::Value PidfdOpen(const Napi::CallbackInfo &info) {
  int fd = (int)syscall(SYS_pidfd_open, info[0].As<Napi::Number>().Int32Value(), 0);
  if (fd < 0 && errno != ESRCH) throw errno_error(info.Env(), errno, "pidfd_open");
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  return Napi::Number::New(info.Env(), fd);
}


// Waiting without a thread: the fd is watched by the event loop (uv_poll), so any number of
// containers can be started and waited for at once (a thread of the pool per wait would let
// four long waits hold up everything else the pool does). The outcome is handed to `done` on
// the main thread, inside a callback scope so that promise reactions run right after.
struct FdWait {
  uv_poll_t poll;
  uv_timer_t timer;
  bool has_timer = false;
  bool finished = false;
  int open_handles = 0;
  int fd;
  napi_env env;
  Napi::Promise::Deferred deferred;
  Napi::AsyncContext context;
  std::function<void(FdWait *, bool)> done;
  FdWait(Napi::Env e, int f, const char *name)
      : fd(f), env(e), deferred(Napi::Promise::Deferred::New(e)), context(e, name) {}
};

static void fdwait_closed(uv_handle_t *h) {
  FdWait *w = static_cast<FdWait *>(h->data);
  if (--w->open_handles == 0) delete w;
}

static void fdwait_finish(FdWait *w, bool readable) {
  if (w->finished) return;
  w->finished = true;
  uv_poll_stop(&w->poll);
  if (w->has_timer) uv_timer_stop(&w->timer);
  {
    Napi::Env env(w->env);
    Napi::HandleScope scope(env);
    Napi::CallbackScope cb(env, w->context);
    w->done(w, readable);
  }
  uv_close(reinterpret_cast<uv_handle_t *>(&w->poll), fdwait_closed);
  if (w->has_timer) uv_close(reinterpret_cast<uv_handle_t *>(&w->timer), fdwait_closed);
}

// An error on the fd counts as readable: the read that follows reports it.
static void fdwait_on_poll(uv_poll_t *p, int, int) { fdwait_finish(static_cast<FdWait *>(p->data), true); }
static void fdwait_on_timer(uv_timer_t *t) { fdwait_finish(static_cast<FdWait *>(t->data), false); }

// timeout_ms < 0: no time limit. An fd the wait owns (owned) is closed also when it cannot start.
static Napi::Promise fdwait(Napi::Env env, int fd, bool owned, int timeout_ms, const char *name,
                            std::function<void(FdWait *, bool)> done) {
  FdWait *w = new FdWait(env, fd, name);
  w->done = std::move(done);
  Napi::Promise promise = w->deferred.Promise();
  uv_loop_t *loop = nullptr;
  int rc = napi_get_uv_event_loop(env, &loop) == napi_ok ? uv_poll_init(loop, &w->poll, fd) : UV_EINVAL;
  if (rc < 0) {
    if (owned) close(fd);
    w->deferred.Reject(errno_error(env, -rc, "watch fd").Value());
    delete w;
    return promise;
  }
  w->poll.data = w;
  w->open_handles++;
  uv_poll_start(&w->poll, UV_READABLE, fdwait_on_poll);
  if (timeout_ms >= 0) {
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    w->open_handles++;
    w->has_timer = true;
    uv_timer_start(&w->timer, fdwait_on_timer, (uint64_t)timeout_ms, 0);
  }
  return promise;
}

// Settles `d` with the message waiting on `fd` (null at the end of the stream).
static void settle_with_message(Napi::Env env, Napi::Promise::Deferred &d, int fd) {
  husk_msg m;
  int passed;
  const char *what;
  int rc = recv_msg(fd, 0, &m, &passed, &what);
  if (rc < 0) d.Reject(errno_error(env, -rc, what).Value());
  else if (rc == 0) d.Resolve(env.Null());
  else d.Resolve(msg_object(env, m, passed));
}

// recv, with the wait on the event loop: the in-process API stays responsive while a
// container's init sets itself up.
static Napi::Value RecvAsync(const Napi::CallbackInfo &info) {
  int timeout = info[1].As<Napi::Number>().Int32Value();
  int fd = info[0].As<Napi::Number>().Int32Value();
  // A message that is there already (the init got to its stage while we were busy) is read now:
  // the promise is settled at once, without a turn of the event loop.
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, 0) == 1) {
    auto deferred = Napi::Promise::Deferred::New(info.Env());
    settle_with_message(info.Env(), deferred, fd);
    return deferred.Promise();
  }
  return fdwait(info.Env(), fd, false, timeout, "husk:recv", [](FdWait *w, bool readable) {
    Napi::Env env(w->env);
    if (!readable) {
      w->deferred.Reject(errno_error(env, ETIMEDOUT, "sync: no answer from the container init").Value());
      return;
    }
    settle_with_message(env, w->deferred, w->fd);
  });
}

// Until the process of a pidfd exits; closes the fd. For a container this process did not
// start: no polling, no thread.
static Napi::Value WaitPidfd(const Napi::CallbackInfo &info) {
  return fdwait(info.Env(), info[0].As<Napi::Number>().Int32Value(), true, -1, "husk:pidfd", [](FdWait *w, bool) {
    close(w->fd);
    w->deferred.Resolve(Napi::Env(w->env).Undefined());
  });
}

static Napi::Object status_object(Napi::Env env, int status) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("code", WIFEXITED(status) ? Napi::Value(Napi::Number::New(env, WEXITSTATUS(status))) : env.Null());
  o.Set("signal", WIFSIGNALED(status) ? Napi::Value(Napi::Number::New(env, WTERMSIG(status))) : env.Null());
  return o;
}

static Napi::Value Reply(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  husk_msg m;
  memset(&m, 0, sizeof m);
  m.type = info[1].As<Napi::Number>().Uint32Value();
  if (send(fd, &m, sizeof m, MSG_NOSIGNAL) != (ssize_t)sizeof m) throw errno_error(env, errno, "sync: send");
  return env.Undefined();
}

// A payload after a header: the state JSON the init hands to in-container hooks.
static Napi::Value SendData(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<uint8_t> data = info[1].As<Napi::Buffer<uint8_t>>();
  std::string msg(sizeof(husk_msg), '\0');
  husk_msg *m = reinterpret_cast<husk_msg *>(&msg[0]);
  m->type = MSG_DATA;
  m->pid = (int32_t)data.Length();
  msg.append(reinterpret_cast<const char *>(data.Data()), data.Length());
  if (send(fd, msg.data(), msg.size(), MSG_NOSIGNAL) != (ssize_t)msg.size()) throw errno_error(env, errno, "sync: send data");
  return env.Undefined();
}

// The seccomp agent's protocol (runtime-spec, linux.seccomp.listenerPath): one connection per
// container process, the process state JSON with the listener fd as SCM_RIGHTS, then close.
static Napi::Value SendSeccompState(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Buffer<uint8_t> data = info[1].As<Napi::Buffer<uint8_t>>();
  int pass = info[2].As<Napi::Number>().Int32Value();
  // An agent that accepts nothing or reads nothing must not hold the container's create (and
  // its lock) for ever: connect and send give up after 10 s.
  int s = connect_unix_stream(path.c_str(), 10000);
  if (s < 0) throw errno_error(env, errno, "connect to the seccomp agent at " + path);
  const uint8_t *p = data.Data();
  size_t left = data.Length();
  bool first = true;
  while (left > 0) {
    // The fd rides on the first byte; the rest of a long state follows as plain data.
    one_fd_msg om;
    struct msghdr *mh = one_fd_init(&om, (void *)p, left, first ? pass : -1, first);
    ssize_t n = sendmsg(s, mh, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EPIPE;
      close(s);
      throw errno_error(env, err, "send the container state to the seccomp agent at " + path);
    }
    first = false;
    p += n;
    left -= (size_t)n;
  }
  close(s);
  return env.Undefined();
}

static Napi::Value Mkfifo(const Napi::CallbackInfo &info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  mode_t mode = info[1].As<Napi::Number>().Uint32Value();
  if (mkfifo(path.c_str(), mode) < 0) throw errno_error(info.Env(), errno, "mkfifo " + path);
  chmod(path.c_str(), mode);  // mkfifo applies the umask
  return info.Env().Undefined();
}

// renameat2(RENAME_EXCHANGE): the errno, 0 when done. A state record replaced this way (and the
// old one unlinked) costs ext4 far less than a rename over it, which makes ext4 allocate the new
// file's blocks at once (auto_da_alloc), and an unlink later has to free them.
static Napi::Value Exchange(const Napi::CallbackInfo &info) {
  std::string a = info[0].As<Napi::String>().Utf8Value();
  std::string b = info[1].As<Napi::String>().Utf8Value();
  long rc = syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE);
  return Napi::Number::New(info.Env(), rc < 0 ? errno : 0);
}

// unlink without an exception for a file that is not there: the errno, 0 when done.
static Napi::Value Unlink(const Napi::CallbackInfo &info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  return Napi::Number::New(info.Env(), unlink(path.c_str()) < 0 ? errno : 0);
}

// Each value into its existing file (no O_CREAT, truncated), in order, stopping at the first
// failure: the errno of each write (0: done; entries after a failure stay 0 and unwritten).
// One call instead of three fs calls a file: a container's cgroup limits and device rules are a
// dozen small writes on create's critical path.
static Napi::Value WriteFiles(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Array paths = info[0].As<Napi::Array>();
  Napi::Array values = info[1].As<Napi::Array>();
  uint32_t n = paths.Length();
  Napi::Array errs = Napi::Array::New(env, n);
  bool failed = false;
  for (uint32_t i = 0; i < n; i++) {
    int err = 0;
    if (!failed) {
      std::string path = paths.Get(i).As<Napi::String>().Utf8Value();
      std::string value = values.Get(i).As<Napi::String>().Utf8Value();
      int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
      if (fd < 0) {
        err = errno;
      } else {
        ssize_t w = write(fd, value.data(), value.size());
        if (w < 0) err = errno;
        else if ((size_t)w != value.size()) err = EIO;
        close(fd);
      }
      failed = err != 0;
    }
    errs.Set(i, Napi::Number::New(env, err));
  }
  return errs;
}

// `start`: one byte into the exec fifo. The init holds its read end, so an open that finds
// no reader (ENXIO) means the init is gone; otherwise the byte is in the pipe and the init
// goes on to exec whenever it is scheduled.
static Napi::Value ReleaseFifo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENXIO) throw errno_error(env, ESRCH, "container init is gone");
    throw errno_error(env, errno, "open exec fifo " + path);
  }
  ssize_t n = write(fd, "0", 1);
  int e = errno;
  close(fd);
  if (n != 1) throw errno_error(env, e, "write exec fifo " + path);
  return env.Undefined();
}

class WaitWorker : public Napi::AsyncWorker {
 public:
  WaitWorker(Napi::Env env, int pid) : Napi::AsyncWorker(env), pid_(pid), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    int rc;
    do rc = waitpid(pid_, &status_, __WALL);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) err_ = errno;
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_) {
      deferred_.Reject(errno_error(env, err_, "waitpid").Value());
      return;
    }
    deferred_.Resolve(status_object(env, status_));
  }

 private:
  int pid_;
  int status_ = 0;
  int err_ = 0;
  Napi::Promise::Deferred deferred_;
};

// The exit status of a child of ours. Its pidfd is watched by the event loop; a kernel without
// pidfd_open (< 5.3) gets a thread of the pool that blocks in waitpid.
static Napi::Value Wait(const Napi::CallbackInfo &info) {
  int pid = info[0].As<Napi::Number>().Int32Value();
  int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pfd < 0) {
    auto *w = new WaitWorker(info.Env(), pid);
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }
  fcntl(pfd, F_SETFD, FD_CLOEXEC);
  return fdwait(info.Env(), pfd, true, -1, "husk:wait", [pid](FdWait *w, bool) {
    Napi::Env env(w->env);
    close(w->fd);
    int status = 0;
    int rc;
    do rc = waitpid(pid, &status, __WALL | WNOHANG);
    while (rc < 0 && errno == EINTR);
    // Readable means exited, so WNOHANG finds it; should it not, wait for it the blocking way.
    if (rc == 0) {
      do rc = waitpid(pid, &status, __WALL);
      while (rc < 0 && errno == EINTR);
    }
    if (rc < 0) w->deferred.Reject(errno_error(env, errno, "waitpid").Value());
    else w->deferred.Resolve(status_object(env, status));
  });
}

// Reaps a child if it has exited; returns its status or null.
// Detaches the mount on top of a path (and every mount below it): the rootfs bind of a container
// that had no mount namespace of its own. Returns 0 or an errno.
static Napi::Value UmountDetach(const Napi::CallbackInfo &info) {
  std::string p = info[0].As<Napi::String>().Utf8Value();
  int rc = umount2(p.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
  return Napi::Number::New(info.Env(), rc < 0 ? errno : 0);
}

static Napi::Value Reap(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int pid = info[0].As<Napi::Number>().Int32Value();
  bool block = info.Length() > 1 && info[1].ToBoolean();
  int status = 0;
  int rc;
  do rc = waitpid(pid, &status, block ? __WALL : (WNOHANG | __WALL));
  while (rc < 0 && errno == EINTR);
  if (rc <= 0) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("code", WIFEXITED(status) ? Napi::Value(Napi::Number::New(env, WEXITSTATUS(status))) : env.Null());
  o.Set("signal", WIFSIGNALED(status) ? Napi::Value(Napi::Number::New(env, WTERMSIG(status))) : env.Null());
  return o;
}

// flock on an fd, so concurrent husk processes serialise on one container.
static Napi::Value Flock(const Napi::CallbackInfo &info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int op = info[1].As<Napi::Number>().Int32Value();
  int rc;
  do rc = flock(fd, op);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    if (errno == EWOULDBLOCK) return Napi::Boolean::New(info.Env(), false);
    throw errno_error(info.Env(), errno, "flock");
  }
  return Napi::Boolean::New(info.Env(), true);
}

static Napi::Value ListenUnix(const Napi::CallbackInfo &info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = listen_unix(path.c_str());
  if (fd < 0) throw errno_error(info.Env(), errno, "listen on " + path);
  return Napi::Number::New(info.Env(), fd);
}

static Napi::Value AcceptFd(const Napi::CallbackInfo &info) {
  int lfd = info[0].As<Napi::Number>().Int32Value();
  int timeout = info[1].As<Napi::Number>().Int32Value();
  char name[256];
  int fd = accept_fd(lfd, timeout, name, sizeof name);
  if (fd < 0) throw errno_error(info.Env(), errno, "receive fd on console socket");
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("fd", fd);
  o.Set("name", std::string(name));
  return o;
}

static Napi::Value ConnectUnix(const Napi::CallbackInfo &info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = connect_unix_stream(path.c_str());
  if (fd < 0) throw errno_error(info.Env(), errno, "connect to " + path);
  return Napi::Number::New(info.Env(), fd);
}

// Returns the bytes read, an empty buffer at end of stream, or null when nothing came in time.
static Napi::Value ReadWithin(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int timeout = info[1].As<Napi::Number>().Int32Value();
  static uint8_t buf[65536];
  ssize_t got = read_within(fd, buf, sizeof buf, timeout);
  if (got < 0) {
    if (errno == ETIMEDOUT) return env.Null();
    throw errno_error(env, errno, "read");
  }
  return Napi::Buffer<uint8_t>::Copy(env, buf, (size_t)got);
}

static Napi::Value CompileSeccomp(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  seccomp_request req;
  req.default_action = o.Get("defaultAction").As<Napi::Number>().Uint32Value();
  Napi::Array arches = o.Get("arches").As<Napi::Array>();
  for (uint32_t i = 0; i < arches.Length(); i++) req.arches.push_back(arches.Get(i).As<Napi::String>().Utf8Value());
  Napi::Array rules = o.Get("rules").As<Napi::Array>();
  for (uint32_t i = 0; i < rules.Length(); i++) {
    Napi::Object r = rules.Get(i).As<Napi::Object>();
    seccomp_rule rule;
    rule.name = r.Get("name").As<Napi::String>().Utf8Value();
    rule.action = r.Get("action").As<Napi::Number>().Uint32Value();
    Napi::Array conds = r.Get("conds").As<Napi::Array>();
    for (uint32_t j = 0; j < conds.Length(); j++) {
      Napi::Object c = conds.Get(j).As<Napi::Object>();
      bool lossless;
      rule.conds.push_back({c.Get("index").As<Napi::Number>().Uint32Value(), c.Get("op").As<Napi::Number>().Uint32Value(),
                            c.Get("a").As<Napi::BigInt>().Uint64Value(&lossless), c.Get("b").As<Napi::BigInt>().Uint64Value(&lossless)});
    }
    req.rules.push_back(std::move(rule));
  }
  std::vector<uint8_t> bpf;
  std::vector<std::string> unknown;
  std::string err = seccomp_compile(req, &bpf, &unknown);
  if (!err.empty()) throw Napi::Error::New(env, err);
  Napi::Object out = Napi::Object::New(env);
  out.Set("bpf", Napi::Buffer<uint8_t>::Copy(env, bpf.data(), bpf.size()));
  Napi::Array u = Napi::Array::New(env, unknown.size());
  for (size_t i = 0; i < unknown.size(); i++) u.Set((uint32_t)i, unknown[i]);
  out.Set("unknown", u);
  return out;
}

static Napi::Value SetWinsize(const Napi::CallbackInfo &info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct winsize ws;
  memset(&ws, 0, sizeof ws);
  ws.ws_row = (unsigned short)info[1].As<Napi::Number>().Uint32Value();
  ws.ws_col = (unsigned short)info[2].As<Napi::Number>().Uint32Value();
  if (ioctl(fd, TIOCSWINSZ, &ws) < 0) throw errno_error(info.Env(), errno, "set the terminal size");
  return info.Env().Undefined();
}

static Napi::Value AttachDeviceProgram(const Napi::CallbackInfo &info) {
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  Napi::Buffer<uint8_t> prog = info[1].As<Napi::Buffer<uint8_t>>();
  static char log[16384];
  log[0] = '\0';
  int rc = attach_device_program(dir.c_str(), prog.Data(), prog.Length(), log, sizeof log);
  if (rc < 0) {
    std::string what = "attach the device program to " + dir;
    if (log[0]) what += " (verifier: " + std::string(log).substr(0, 400) + ")";
    throw errno_error(info.Env(), -rc, what);
  }
  return info.Env().Undefined();
}

// The husk server's side of the front protocol (common/front_protocol.h).

// The init's fds, ready for the front to launch: the sealed husk-init (this process keeps it),
// the slot fds (the caller closes them once sent) and our end of the sync socket.
static Napi::Value PrepareSpawn(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  spawn_request req = spawn_request_of(o);
  spawn_prepared p;
  const char *what = "spawn";
  int rc = prepare_init(req, &p, &what);
  if (rc < 0) throw errno_error(env, -rc, what);
  Napi::Object out = Napi::Object::New(env);
  out.Set("exe", p.exe);
  out.Set("syncFd", p.sync_fd);
  Napi::Array slots = Napi::Array::New(env, FD_SLOTS);
  for (uint32_t i = 0; i < FD_SLOTS; i++) slots.Set(i, p.slots[i]);
  out.Set("slots", slots);
  return out;
}

// One message with fds (SCM_RIGHTS), on a SOCK_SEQPACKET socket.
static Napi::Value SeqSend(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<uint8_t> data = info[1].As<Napi::Buffer<uint8_t>>();
  std::vector<int> fds;
  if (info.Length() > 2 && info[2].IsArray()) {
    Napi::Array a = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) fds.push_back(a.Get(i).As<Napi::Number>().Int32Value());
  }
  ssize_t n = send_with_fds(fd, data.Data(), data.Length(), fds.data(), (int)fds.size());
  if (n != (ssize_t)data.Length()) throw errno_error(env, n < 0 ? errno : EPIPE, "send to the husk front");
  return env.Undefined();
}

// The next message with its fds, waited for on the event loop; null at end of stream.
static Napi::Value SeqRecvAsync(const Napi::CallbackInfo &info) {
  return fdwait(info.Env(), info[0].As<Napi::Number>().Int32Value(), false, -1, "husk:front", [](FdWait *w, bool) {
    Napi::Env env(w->env);
    static uint8_t buf[1 << 18];
    int got_fds[HUSK_FRONT_MAX_FDS];
    int nfds = 0;
    ssize_t got = recv_with_fds(w->fd, buf, sizeof buf, got_fds, &nfds, MSG_DONTWAIT);
    int err = errno;
    if (got <= 0) {
      for (int i = 0; i < nfds; i++) close(got_fds[i]);
      if (got == 0 || err == ECONNRESET) w->deferred.Resolve(env.Null());
      else w->deferred.Reject(errno_error(env, err, "receive from the husk front").Value());
      return;
    }
    Napi::Array fds = Napi::Array::New(env, nfds);
    for (int i = 0; i < nfds; i++) fds.Set((uint32_t)i, got_fds[i]);
    Napi::Object o = Napi::Object::New(env);
    o.Set("data", Napi::Buffer<uint8_t>::Copy(env, buf, (size_t)got));
    o.Set("fds", fds);
    w->deferred.Resolve(o);
  });
}

// The server's listening socket: SOCK_SEQPACKET, non-blocking, only for this user (0600).
static Napi::Value ListenSeqpacket(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) throw errno_error(env, ENAMETOOLONG, "listen on " + path);
  memcpy(sa.sun_path, path.c_str(), path.size());
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw errno_error(env, errno, "socket");
  mode_t old = umask(0177);
  int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  int err = errno;
  umask(old);
  if (rc < 0 || listen(fd, 128) < 0) {
    if (rc == 0) err = errno;
    close(fd);
    throw errno_error(env, err, "listen on " + path);
  }
  return Napi::Number::New(env, fd);
}

// The next connection (a blocking fd), waited for on the event loop; -1 if the one that woke us
// went away first.
static Napi::Value AcceptAsync(const Napi::CallbackInfo &info) {
  return fdwait(info.Env(), info[0].As<Napi::Number>().Int32Value(), false, -1, "husk:accept", [](FdWait *w, bool) {
    Napi::Env env(w->env);
    int c = accept4(w->fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0 && errno != EAGAIN && errno != ECONNABORTED && errno != EINTR) {
      w->deferred.Reject(errno_error(env, errno, "accept").Value());
      return;
    }
    w->deferred.Resolve(Napi::Number::New(env, c));
  });
}

static Napi::Value PeerCred(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(info[0].As<Napi::Number>().Int32Value(), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    throw errno_error(env, errno, "SO_PEERCRED");
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", cred.pid);
  o.Set("uid", cred.uid);
  o.Set("gid", cred.gid);
  return o;
}

// Puts fds on 0, 1, 2 for one call the server runs (hooks and `ps` inherit them, the CLI writes
// to them); returns copies of what was there, for restoreStdio.
static Napi::Value SwapStdio(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Array in = info[0].As<Napi::Array>();
  Napi::Array saved = Napi::Array::New(env, 3);
  for (uint32_t i = 0; i < 3; i++) {
    int keep = fcntl((int)i, F_DUPFD_CLOEXEC, 10);
    saved.Set(i, keep);
    int fd = in.Get(i).As<Napi::Number>().Int32Value();
    if (dup2(fd, (int)i) < 0) throw errno_error(env, errno, "dup2 stdio");
  }
  return saved;
}

// A close-on-exec copy of an fd (the server keeps its own stderr apart from its callers').
static Napi::Value DupFd(const Napi::CallbackInfo &info) {
  int fd = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 10);
  if (fd < 0) throw errno_error(info.Env(), errno, "dup");
  return Napi::Number::New(info.Env(), fd);
}

static Napi::Value RestoreStdio(const Napi::CallbackInfo &info) {
  Napi::Array saved = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < 3; i++) {
    int fd = saved.Get(i).As<Napi::Number>().Int32Value();
    if (fd < 0) {
      int null = open("/dev/null", O_RDWR | O_CLOEXEC);
      if (null >= 0) {
        dup2(null, (int)i);
        close(null);
      }
      continue;
    }
    dup2(fd, (int)i);
    close(fd);
  }
  return info.Env().Undefined();
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("spawn", Napi::Function::New(env, Spawn));
  exports.Set("spawnAsync", Napi::Function::New(env, SpawnAsync));
  exports.Set("recv", Napi::Function::New(env, Recv));
  exports.Set("recvAsync", Napi::Function::New(env, RecvAsync));
  exports.Set("writeInBackground", Napi::Function::New(env, WriteInBackground));
  exports.Set("rmdirsInBackground", Napi::Function::New(env, RmdirsInBackground));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("waitPidfd", Napi::Function::New(env, WaitPidfd));
  exports.Set("reply", Napi::Function::New(env, Reply));
  exports.Set("sendData", Napi::Function::New(env, SendData));
  exports.Set("mkfifo", Napi::Function::New(env, Mkfifo));
  exports.Set("exchange", Napi::Function::New(env, Exchange));
  exports.Set("unlink", Napi::Function::New(env, Unlink));
  exports.Set("writeFiles", Napi::Function::New(env, WriteFiles));
  exports.Set("sendSeccompState", Napi::Function::New(env, SendSeccompState));
  exports.Set("releaseFifo", Napi::Function::New(env, ReleaseFifo));
  exports.Set("wait", Napi::Function::New(env, Wait));
  exports.Set("listenUnix", Napi::Function::New(env, ListenUnix));
  exports.Set("acceptFd", Napi::Function::New(env, AcceptFd));
  exports.Set("compileSeccomp", Napi::Function::New(env, CompileSeccomp));
  exports.Set("seccompVersion", Napi::Function::New(env, [](const Napi::CallbackInfo &info) -> Napi::Value {
    return Napi::String::New(info.Env(), seccomp_lib_version());
  }));
  exports.Set("setWinsize", Napi::Function::New(env, SetWinsize));
  exports.Set("attachDeviceProgram", Napi::Function::New(env, AttachDeviceProgram));
  exports.Set("flock", Napi::Function::New(env, Flock));
  exports.Set("reap", Napi::Function::New(env, Reap));
  exports.Set("umountDetach", Napi::Function::New(env, UmountDetach));
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix));
  exports.Set("readWithin", Napi::Function::New(env, ReadWithin));
  exports.Set("prepareSpawn", Napi::Function::New(env, PrepareSpawn));
  exports.Set("seqSend", Napi::Function::New(env, SeqSend));
  exports.Set("seqRecvAsync", Napi::Function::New(env, SeqRecvAsync));
  exports.Set("listenSeqpacket", Napi::Function::New(env, ListenSeqpacket));
  exports.Set("acceptAsync", Napi::Function::New(env, AcceptAsync));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred));
  exports.Set("swapStdio", Napi::Function::New(env, SwapStdio));
  exports.Set("restoreStdio", Napi::Function::New(env, RestoreStdio));
  exports.Set("dupFd", Napi::Function::New(env, DupFd));
  return exports;
}

NODE_API_MODULE(husk_native, Init)
