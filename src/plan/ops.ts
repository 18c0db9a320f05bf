// Ops as the planner makes them. The codes, the enums and each op's fields in their order come
// from the contract's one table (src/plan/contract/ops.json, made into ./generated/contract by
// scripts/gen-contract.mjs); a planner names the fields, the table orders them.
import { LAYOUT, OP, type OpArgs } from './generated/contract';

export { CONTRACT_HASH, MOUNT_KIND, MSG, OP, PIVOT_MODE, STAGE, TMPFS_OPT } from './generated/contract';
export type { OpArgs } from './generated/contract';

export type OpName = keyof typeof OP;

// A field of an op body as the encoder writes it: u32, u64 (bigint or number), string, string
// list, u32 list, raw bytes.
export type Field =
  | { u32: number }
  | { u64: bigint | number }
  | { str: string }
  | { strv: string[] }
  | { u32v: number[] }
  | { bytes: Uint8Array };

export interface Op {
  op: OpName;
  // The config entry this op comes from, as a JSON pointer, so a failure names it.
  from: string;
  // What a reader of `husk plan` sees; the encoder ignores it.
  show: Record<string, unknown>;
  // The op's fields in the contract's order, as encodePlan lays them out.
  fields: Field[];
}

type Layout = readonly (readonly [string, string, (number | undefined)?])[];
// An op with no field to give takes no args.
type ArgsParam<N extends OpName> = object extends OpArgs[N] ? [args?: OpArgs[N]] : [args: OpArgs[N]];

function toField(kind: string, v: unknown): Field {
  if (kind === 'i32') return { u32: (v as number) >>> 0 };
  return { [kind]: v } as Field;
}

export function op<N extends OpName>(
  name: N,
  from: string,
  show: Record<string, unknown>,
  ...rest: ArgsParam<N>
): Op {
  const args = (rest[0] ?? {}) as Record<string, unknown>;
  const fields = (LAYOUT[name] as Layout).map(([field, kind, dflt]) => {
    const v = args[field] ?? dflt;
    // A planner bug, not a config error: the types make every field without a default required.
    if (v === undefined) throw new Error(`op ${name}: no ${field}`);
    return toField(kind, v);
  });
  return { op: name, from, show, fields };
}

// The index of one of an op's fields in `fields`, by name.
export function fieldIndex<N extends OpName>(name: N, field: keyof OpArgs[N] & string): number {
  const i = (LAYOUT[name] as Layout).findIndex(([f]) => f === field);
  if (i < 0) throw new Error(`op ${name} has no field ${field}`);
  return i;
}

// One field of an op, by name (a string field's text, a number field's value...).
export function fieldOf<N extends OpName>(o: Op, name: N, field: keyof OpArgs[N] & string): unknown {
  if (o.op !== name) return undefined;
  return Object.values(o.fields[fieldIndex(name, field)])[0];
}
