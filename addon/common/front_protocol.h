// The contract between the front binary (addon/front/main.cc, what engines exec as `husk`) and
// the husk server (src/server/*.ts): messages on one SOCK_SEQPACKET connection per call. Change
// a number here and in src/server/protocol.ts together.
//
// front -> server: REQUEST (a = argc, b = envc, c = umask) with the caller's fds 0, 1, 2
//   (SCM_RIGHTS); after the header come cwd, the arguments and the environment entries, each
//   NUL-terminated.
// server -> front, any number of times until DONE:
//   SPAWN  start husk-init: fds exe, then one per bit of `c` (slot order); `a` preserve_fds.
//          The front answers SPAWNED (a = pid, b = -errno).
//   REAP   a = pid of a child of the front that has exited or is about to: wait for it.
//   WAIT   a = pid of the container process: wait for it, forwarding the signals the front
//          gets; answer EXITED (a = the wait status).
//   FORWARD a = pid of a foreground container process: from now on, forward the signals the
//          front gets to it, and answer FORWARDING once the handlers are in place, before the
//          server lets the process run (a = 0: stop, no answer; the default dispositions again).
//   FALLBACK  the server does not serve this call (or this caller): run it the ordinary way.
//   DONE   a = the exit code.
#pragma once
#include <stdint.h>

#define HUSK_SERVER_SOCKET "socket"

enum husk_front_msg_type : uint32_t {
  FRONT_REQUEST = 1,
  FRONT_SPAWNED = 2,
  FRONT_EXITED = 3,
  FRONT_FORWARDING = 4,
  FRONT_FALLBACK = 10,
  FRONT_SPAWN = 11,
  FRONT_REAP = 12,
  FRONT_WAIT = 13,
  FRONT_DONE = 14,
  FRONT_FORWARD = 15,
};

struct husk_front_msg {
  uint32_t type;
  int32_t a;
  int32_t b;
  uint32_t c;
};

// The most fds one message carries (SPAWN: exe + 4 slots; REQUEST: 3).
#define HUSK_FRONT_MAX_FDS 8
