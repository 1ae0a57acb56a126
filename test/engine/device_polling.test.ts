// Dawn's polling throttle (engine/device.ts): while the engine waits on the GPU it swaps
// globalThis.setImmediate for a throttled one; the wait must still resolve with the right values
// in every mode, the real setImmediate must be back afterwards (also after a rejection and with
// overlapping waits), and the 'throttled' mode must take its sleep path on a long wait.
import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import * as E from '../../engine/index.ts';
import { throttledWait, pollingNaps, napMs } from '../../engine/device.ts';

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

/** Four waits of ~`ms` each: the throttle's expected wait (the shortest of the last 4) becomes ~`ms`. */
async function primeHistory(ms: number) {
  for (let i = 0; i < 4; i++) await throttledWait(polledPromise(ms), true);
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
    await primeHistory(1);
    n0 = pollingNaps();
    const ms = await wait();
    // expected ~1 ms: a wait past 1.25 ms sleeps (an eighth of the wait so far) at least once before 8 ms (lavapipe: tens of ms here)
    if (ms > 2) expect(pollingNaps()).toBeGreaterThan(n0);
    expect(globalThis.setImmediate).toBe(realSetImmediate);
    A.dispose();
    expect(E.memory().liveBuffers).toBe(before);
  });

  it('a polled promise resolves through the throttle (sleeping past the expected end), and overlapping waits restore setImmediate once both end', async () => {
    await primeHistory(2);
    const n0 = pollingNaps();
    const p1 = throttledWait(polledPromise(6), true);
    const p2 = throttledWait(polledPromise(12), true);
    expect(globalThis.setImmediate).not.toBe(realSetImmediate);
    const polls1 = await p1;
    // the shorter wait ended but the longer is still pending: the throttle stays
    expect(globalThis.setImmediate).not.toBe(realSetImmediate);
    const polls2 = await p2;
    expect(globalThis.setImmediate).toBe(realSetImmediate);
    expect(polls1).toBeGreaterThanOrEqual(1);
    // expected ~2 ms, waited 12: the steps between 2 and 8 ms are sleeps (an eighth of the wait so far)
    expect(pollingNaps() - n0).toBeGreaterThanOrEqual(1);
    // and far fewer polls than a busy loop makes in 12 ms (thousands): the timer or a sleep before each one past 0.3 ms
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

  it('the throttled schedule: the 1 ms timer far from the expected end, a sleep to 80 % of it, 5 % steps to it, then an eighth of the wait so far', () => {
    const E3 = 3; // expected wait (ms): the shortest of the last 4
    expect(napMs(0.35, E3)).toBeNull(); // 2.05 ms from 80 %: the timer
    expect(napMs(1.5, E3)).toBeCloseTo(2.4 - 1.5, 12); // within 1 ms of 80 %: sleep exactly to it
    expect(napMs(2.0, E3)).toBeCloseTo(0.4, 12);
    expect(napMs(2.41, E3)).toBeCloseTo(0.15, 12); // 80 %..100 %: 5 % of the expected wait
    expect(napMs(2.99, E3)).toBeCloseTo(0.15, 12);
    expect(napMs(3.2, E3)).toBeCloseTo(0.4, 12); // past it: an eighth of the wait so far
    expect(napMs(7.9, E3)).toBeCloseTo(7.9 / 8, 12);
    expect(napMs(8, E3)).toBeNull(); // an eighth would be 1 ms: the timer
    expect(napMs(0.35, 0)).toBeCloseTo(0.05, 12); // no history: the floor of 50 µs
    expect(napMs(0.5, 0.2)).toBeCloseTo(0.0625, 12);
    // a long expected wait (a big matmul): the timer throughout, fine steps of 5 % would be >= 1 ms
    for (const w of [0.4, 10, 79, 81, 99, 150]) expect(napMs(w, 100)).toBeNull();
    // never a sleep of 1 ms or more: no wake later than the timer mode's
    for (let e = 0; e <= 40; e += 0.7) for (let w = 0.3; w < 60; w += 0.37) {
      const n = napMs(w, e);
      if (n !== null) {
        expect(n).toBeLessThan(1);
        expect(n).toBeGreaterThanOrEqual(0.05);
      }
    }
  });

  it('an unknown mode is refused with the valid ones named', () => {
    expect(() => E.setPollingMode('spin' as E.PollingMode)).toThrow(/unknown mode; valid: throttled, timer, busy/);
    expect(E.getPollingMode()).toBe('throttled');
  });
});
