// The husk server's side of the front protocol (common/front_protocol.h): its listening socket,
// messages with fds, the caller's credentials, and each call's stdio.
#include "napi_common.h"
#include "../common/fds_msg.h"
#include "../common/front_protocol.h"

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

// A connected SOCK_SEQPACKET pair, both ends close-on-exec (criu swrk gets one end as its fd 3,
// dup'ed by the spawn; husk keeps the other).
static Napi::Value SeqpacketPair(const Napi::CallbackInfo &info) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    throw errno_error(info.Env(), errno, "socketpair");
  Napi::Array a = Napi::Array::New(info.Env(), 2);
  a.Set(0u, sv[0]);
  a.Set(1u, sv[1]);
  return a;
}

void register_server(Napi::Env env, Napi::Object exports) {
  exports.Set("seqpacketPair", Napi::Function::New(env, SeqpacketPair));
  exports.Set("seqSend", Napi::Function::New(env, SeqSend));
  exports.Set("seqRecvAsync", Napi::Function::New(env, SeqRecvAsync));
  exports.Set("listenSeqpacket", Napi::Function::New(env, ListenSeqpacket));
  exports.Set("acceptAsync", Napi::Function::New(env, AcceptAsync));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred));
  exports.Set("swapStdio", Napi::Function::New(env, SwapStdio));
  exports.Set("restoreStdio", Napi::Function::New(env, RestoreStdio));
  exports.Set("dupFd", Napi::Function::New(env, DupFd));
}
