// Dawn's polling throttle (engine/device.ts): while the engine waits on the GPU it swaps
// globalThis.setImmediate for a throttled one; the wait must still resolve with the right values
// in every mode, the real setImmediate must be back afterwards (also after a rejection and with
// overlapping waits), and the 'throttled' mode must take its sleep path on a long wait.
import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import * as E from '../../engine/index.ts';
import { throttledWait, pollingNaps } from '../../engine/device.ts';

const realSetImmediate = globalThis.setImmediate;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A promise resolved by a chain of setImmediate re-arms, the way Dawn's binding polls, after `ms`. */
function polledPromise(ms: number): Promise<number> {
  const t0 = performance.now();
  let polls = 0;
  return new Promise((resolve) => {
    const poll = () => {
      polls++;
      if (performance.now() - t0 >= ms) resolve(polls);
      // looked up on globalThis each time, as the binding does
      else globalThis.setImmediate(poll);
    };
    globalThis.setImmediate(poll);
  });
}

beforeAll(async () => {
  await E.init();
});
afterEach(() => {
  E.setPollingMode('throttled');
});

describe('polling throttle', () => {
  it('is on by default', () => {
    expect(E.getPollingMode()).toBe('throttled');
  });

  it('a GPU readback resolves with the right values in every mode, and setImmediate is restored', async () => {
    const before = E.memory().liveBuffers;
    const a = Float32Array.from({ length: 64 * 64 }, (_, i) => ((i * 7) % 13) / 13 - 0.5);
    const b = Float32Array.from({ length: 64 * 64 }, (_, i) => ((i * 5) % 11) / 11 - 0.5);
    // float64 reference of a 64×64 matmul
    const ref = new Float64Array(64 * 64);
    for (let i = 0; i < 64; i++) for (let j = 0; j < 64; j++) {
      let s = 0;
      for (let k = 0; k < 64; k++) s += a[i * 64 + k] * b[k * 64 + j];
      ref[i * 64 + j] = s;
    }
    const A = E.tensor(a, [64, 64]), B = E.tensor(b, [64, 64]);
    for (const mode of ['throttled', 'timer', 'busy'] as const) {
      E.setPollingMode(mode);
      const C = E.matmul(A, B);
      const got = await C.data();
      C.dispose();
      expect(globalThis.setImmediate).toBe(realSetImmediate);
      let err = 0;
      for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(got[i] - ref[i]));
      expect(err).toBeLessThan(1e-4);
      await E.sync();
      expect(globalThis.setImmediate).toBe(realSetImmediate);
    }
    E.dispose([A, B]);
    expect(E.memory().liveBuffers).toBe(before);
  });

  it('a long GPU wait takes the sleep path in throttled mode and not in timer mode', async () => {
    const before = E.memory().liveBuffers;
    const A = E.randn([512, 512], 0, 1, { seed: 3 });
    const wait = async () => {
      // several 512² products in one submit: many milliseconds on lavapipe, past the 0.3 ms spin
      const C = E.scope(() => {
        let c = E.matmul(A, A);
        for (let i = 0; i < 3; i++) c = E.matmul(c, A);
        return c;
      });
      const t0 = performance.now();
      await E.sync();
      const ms = performance.now() - t0;
      C.dispose();
      return ms;
    };
    E.setPollingMode('timer');
    let n0 = pollingNaps();
    await wait();
    expect(pollingNaps()).toBe(n0);
    E.setPollingMode('throttled');
    n0 = pollingNaps();
    const ms = await wait();
    // a wait past the spin window must have slept at least once (on any adapter slower than 0.3 ms here)
    if (ms > 1) expect(pollingNaps()).toBeGreaterThan(n0);
    expect(globalThis.setImmediate).toBe(realSetImmediate);
    A.dispose();
    expect(E.memory().liveBuffers).toBe(before);
  });

  it('a polled promise resolves through the throttle (naps past 0.3 ms), and overlapping waits restore setImmediate once both end', async () => {
    const n0 = pollingNaps();
    const p1 = throttledWait(polledPromise(6), true);
    const p2 = throttledWait(polledPromise(12), true);
    expect(globalThis.setImmediate).not.toBe(realSetImmediate);
    const polls1 = await p1;
    // the shorter wait ended but the longer is still pending: the throttle stays
    expect(globalThis.setImmediate).not.toBe(realSetImmediate);
    const polls2 = await p2;
    expect(globalThis.setImmediate).toBe(realSetImmediate);
    expect(polls1).toBeGreaterThan(1);
    expect(polls2).toBeGreaterThan(1);
    // 12 ms of polling: naps of up to 1 ms each, so at least a handful
    expect(pollingNaps() - n0).toBeGreaterThanOrEqual(5);
    // and far fewer polls than a busy loop would make in 12 ms (a nap is at least 50 us: at most ~240)
    expect(polls2).toBeLessThan(400);
  });

  it('other code\'s setImmediate still runs during a wait', async () => {
    let ran = false;
    const p = throttledWait(sleep(8), true);
    await sleep(2);
    globalThis.setImmediate(() => (ran = true));
    await p;
    expect(ran).toBe(true);
    expect(globalThis.setImmediate).toBe(realSetImmediate);
  });

  it('a rejected wait restores setImmediate and passes the error on', async () => {
    const p = throttledWait(sleep(3).then(() => Promise.reject(new Error('device lost (test)'))), true);
    await expect(p).rejects.toThrow('device lost (test)');
    expect(globalThis.setImmediate).toBe(realSetImmediate);
  });

  it('busy mode and non-Dawn waits leave setImmediate alone', async () => {
    E.setPollingMode('busy');
    const p = throttledWait(polledPromise(2), true);
    expect(globalThis.setImmediate).toBe(realSetImmediate);
    await p;
    E.setPollingMode('throttled');
    const q = throttledWait(polledPromise(2), false);
    expect(globalThis.setImmediate).toBe(realSetImmediate);
    await q;
  });

  it('an unknown mode is refused with the valid ones named', () => {
    expect(() => E.setPollingMode('spin' as E.PollingMode)).toThrow(/unknown mode; valid: throttled, timer, busy/);
    expect(E.getPollingMode()).toBe('throttled');
  });
});
