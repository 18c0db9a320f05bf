// cpu.shares (2..262144, cgroup v1) onto cpu.weight (1..10000, cgroup v2), the conversion the spec
// and runc use; both the cgroupfs writes and the systemd unit's CPUWeight need it.
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return Math.floor(1 + ((shares - 2) * 9999) / 262142);
}
