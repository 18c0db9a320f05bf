// cgroup v2 has no devices.allow: the device rules become an eBPF program
// (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the container's cgroup, as runc and crun do.
// Rules are checked last to first, so the last matching rule decides, like v1's files;
// nothing matching means deny.
import type { DeviceRule } from '../spec/types';

// struct bpf_cgroup_dev_ctx { u32 access_type (access << 16 | type); u32 major; u32 minor; }
const TYPE: Record<string, number> = { b: 1, c: 2 };
const ACCESS: Record<string, number> = { m: 1, r: 2, w: 4 };

// One instruction: opcode, dst and src registers, offset, immediate.
type Insn = [number, number, number, number, number];

const LDX_W = 0x61; // dst = *(u32 *)(src + off)
const AND32_K = 0x54;
const RSH32_K = 0x74;
const MOV32_X = 0xbc;
const JNE_K = 0x55;
const JNE_X = 0x5d;
const MOV64_K = 0xb7;
const EXIT = 0x95;

function accessBits(access: string | undefined): number {
  let bits = 0;
  for (const ch of access ?? 'rwm') bits |= ACCESS[ch] ?? 0;
  return bits;
}

export function deviceProgram(rules: DeviceRule[]): Insn[] {
  const prog: Insn[] = [
    [LDX_W, 2, 1, 0, 0], // r2 = access_type
    [AND32_K, 2, 0, 0, 0xffff], // r2 = type
    [LDX_W, 3, 1, 0, 0],
    [RSH32_K, 3, 0, 0, 16], // r3 = access
    [LDX_W, 4, 1, 4, 0], // r4 = major
    [LDX_W, 5, 1, 8, 0], // r5 = minor
  ];
  for (const r of [...rules].reverse()) {
    const block: Insn[] = [];
    const skips: number[] = []; // indexes of jumps to the end of this block
    const type = r.type && r.type !== 'a' ? TYPE[r.type] : undefined;
    if (type !== undefined) {
      skips.push(block.length);
      block.push([JNE_K, 2, 0, 0, type]);
    }
    const bits = accessBits(r.access);
    if (bits !== 7) {
      block.push([MOV32_X, 6, 3, 0, 0]); // r6 = access
      block.push([AND32_K, 6, 0, 0, bits]); // r6 &= allowed
      skips.push(block.length);
      block.push([JNE_X, 6, 3, 0, 0]); // asked for more than the rule covers
    }
    if (r.major !== undefined && r.major >= 0) {
      skips.push(block.length);
      block.push([JNE_K, 4, 0, 0, r.major]);
    }
    if (r.minor !== undefined && r.minor >= 0) {
      skips.push(block.length);
      block.push([JNE_K, 5, 0, 0, r.minor]);
    }
    block.push([MOV64_K, 0, 0, 0, r.allow ? 1 : 0]);
    block.push([EXIT, 0, 0, 0, 0]);
    for (const at of skips) block[at][3] = block.length - at - 1;
    prog.push(...block);
    // A rule that matches everything decides alone; the verifier refuses code after it.
    if (!skips.length) return prog;
  }
  prog.push([MOV64_K, 0, 0, 0, 0]);
  prog.push([EXIT, 0, 0, 0, 0]);
  return prog;
}

// struct bpf_insn as the kernel reads it: u8 code, u8 dst:4|src:4, s16 off, s32 imm.
export function encodeProgram(prog: Insn[]): Buffer {
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach(([code, dst, src, off, imm], i) => {
    buf.writeUInt8(code, i * 8);
    buf.writeUInt8((src << 4) | dst, i * 8 + 1);
    buf.writeInt16LE(off, i * 8 + 2);
    buf.writeInt32LE(imm | 0, i * 8 + 4);
  });
  return buf;
}
