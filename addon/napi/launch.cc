// The launch of a container process and its sync socket: husk-init spawned (on the calling
// thread, on the pool, or prepared for the husk front), its messages received (blocking or on
// the event loop), the answers and data sent back, the exec fifo, and the seccomp agent hand-off.
#include <sys/ioctl.h>
#include "napi_common.h"
#include "../common/one_fd.h"
#include "../common/protocol.h"
#include "../parent/spawn.h"
#include "../parent/unix_stream.h"

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

// `start`: one byte into the exec fifo. The init holds it open, so an open that finds no
// reader (ENXIO) means the init is gone; otherwise the byte is in the pipe and the init goes on
// whenever it is scheduled. Returns the fd, which keeps the pipe (and what the init adds to it)
// after the init is gone: the caller counts the bytes (FifoBytes) and closes it.
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
  if (n != 1) {
    close(fd);
    throw errno_error(env, e, "write exec fifo " + path);
  }
  return Napi::Number::New(env, fd);
}

// The bytes waiting in a pipe (FIONREAD works on either end).
static Napi::Value FifoBytes(const Napi::CallbackInfo &info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int n = 0;
  if (ioctl(fd, FIONREAD, &n) < 0) throw errno_error(info.Env(), errno, "FIONREAD on the exec fifo");
  return Napi::Number::New(info.Env(), n);
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

void register_launch(Napi::Env env, Napi::Object exports) {
  exports.Set("spawn", Napi::Function::New(env, Spawn));
  exports.Set("spawnAsync", Napi::Function::New(env, SpawnAsync));
  exports.Set("prepareSpawn", Napi::Function::New(env, PrepareSpawn));
  exports.Set("recv", Napi::Function::New(env, Recv));
  exports.Set("recvAsync", Napi::Function::New(env, RecvAsync));
  exports.Set("reply", Napi::Function::New(env, Reply));
  exports.Set("sendData", Napi::Function::New(env, SendData));
  exports.Set("sendSeccompState", Napi::Function::New(env, SendSeccompState));
  exports.Set("mkfifo", Napi::Function::New(env, Mkfifo));
  exports.Set("releaseFifo", Napi::Function::New(env, ReleaseFifo));
  exports.Set("fifoBytes", Napi::Function::New(env, FifoBytes));
}
