// Whether criu can checkpoint here: the guest's kernel (6.1) passes `criu check`, this host's
// kernel does not. A reason to skip, or false.
import { spawnSync } from 'node:child_process';

export function criuWhyNot() {
  const r = spawnSync('criu', ['check'], { encoding: 'utf8' });
  if (r.error) return 'no criu on PATH (install criu)';
  const out = `${r.stdout}${r.stderr}`;
  if (r.status !== 0 || !/Looks good/.test(out))
    return `criu check fails on this kernel: ${out.trim().split('\n').pop()}`;
  return false;
}
