// A stack of clean-up steps run in reverse on failure, so a failed create leaves nothing.
export class Undo {
  private steps: { what: string; fn: () => void }[] = [];

  push(what: string, fn: () => void): void {
    this.steps.push({ what, fn });
  }

  run(onError: (what: string, e: unknown) => void): void {
    while (this.steps.length) {
      const s = this.steps.pop()!;
      try {
        s.fn();
      } catch (e) {
        onError(s.what, e);
      }
    }
  }

  clear(): void {
    this.steps = [];
  }
}
