// The contract between the TypeScript planner (src/plan/encode.ts), the addon that spawns the
// init (addon/parent) and husk-init (addon/init): the plan's framing and the sync messages.
// test/unit/encode.test.mjs decodes the planner's output with husk-init field by field.
#pragma once
#include <stdint.h>

#define HUSK_PLAN_MAGIC "HUSKPLN1"

// The op codes, stages, message types and the enums op fields carry are generated from the
// contract's one table, src/plan/contract/ops.json (scripts/gen-contract.mjs, run by the build).
#include "generated/contract.h"

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
