// Hooks the init runs itself, in the container's namespaces: createContainer (before
// pivot_root, so its path is resolved in the runtime's filesystem view, as runc) and
// startContainer (after `start`, before the program). The others run in the runtime
// (src/runtime/hooks.ts).
import { HuskError } from '../errors';
import type { Hook, Spec } from '../spec/types';
import { op, type Op } from './ops';

export function checkHooks(spec: Spec): void {
  for (const [kind, list] of Object.entries(spec.hooks ?? {})) {
    (list as Hook[]).forEach((h, i) => {
      if (!h.path.startsWith('/'))
        throw new HuskError(`/hooks/${kind}/${i}/path: "${h.path}" must be absolute`);
      if (h.timeout !== undefined && h.timeout <= 0)
        throw new HuskError(`/hooks/${kind}/${i}/timeout: must be greater than zero`);
    });
  }
}

export function hookOps(spec: Spec, kind: 'createContainer' | 'startContainer'): Op[] {
  return (spec.hooks?.[kind] ?? []).map((h, i) =>
    op(
      'HOOK',
      `/hooks/${kind}/${i}`,
      { path: h.path, args: h.args, env: h.env, timeout: h.timeout },
      { path: h.path, args: h.args ?? [], env: h.env ?? [], timeout: h.timeout ?? 0 },
    ),
  );
}
