import { describe, expect, it } from 'vitest';
import { createWriteGate } from './gate.ts';

/** A promise and the function that settles it. */
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
const turn = () => new Promise((r) => setImmediate(r));

describe('write gate', () => {
  it('holds only after the writes under way, keeps new writes waiting until the hold is done, then lets them go', async () => {
    const gate = createWriteGate();
    const log: string[] = [];
    const running = deferred();
    const first = gate.pass(async () => {
      log.push('write 1 starts');
      await running.promise;
      log.push('write 1 ends');
    });
    const held = deferred();
    const hold = gate.hold(async () => {
      log.push('hold starts');
      await held.promise;
      log.push('hold ends');
      return 'held';
    });
    await turn();
    const second = gate.pass(async () => log.push('write 2'));
    await turn();
    expect(log).toEqual(['write 1 starts']);
    running.resolve();
    await first;
    await turn();
    expect(log).toEqual(['write 1 starts', 'write 1 ends', 'hold starts']);
    held.resolve();
    expect(await hold).toBe('held');
    await second;
    expect(log).toEqual(['write 1 starts', 'write 1 ends', 'hold starts', 'hold ends', 'write 2']);
  });

  it('gives holders turns, and opens again when a hold fails', async () => {
    const gate = createWriteGate();
    const log: string[] = [];
    const a = gate.hold(async () => {
      log.push('a');
      throw new Error('a failed');
    });
    const b = gate.hold(async () => log.push('b'));
    await expect(a).rejects.toThrow('a failed');
    await b;
    await gate.pass(async () => log.push('write'));
    expect(log).toEqual(['a', 'b', 'write']);
  });
});
