// The GPU rollout's frame stack (rl/harness/framestack_gpu.ts) against the CPU FrameStack
// (rl/harness/envs.ts) it mirrors: reset, 30 pushes with random episode restarts, and withLast
// (the final observation of a truncated episode), equal element for element; bad shapes refused;
// no buffer leaked.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { FrameStack } from '../../rl/harness/envs.ts';
import { GpuFrameStack } from '../../rl/harness/framestack_gpu.ts';
import { Rng } from '../../rl/envs/rng.ts';

beforeAll(async () => {
  await E.init();
});

describe('GpuFrameStack', () => {
  for (const [N, S, K] of [[5, 7, 3], [3, 400, 2], [4, 6, 1]] as const) {
    it(`equals FrameStack step for step (N ${N}, frame ${S}, K ${K})`, async () => {
      const live0 = E.memory().liveBuffers;
      const rng = new Rng(N * 1000 + S + K, 0);
      const frames = () => Float32Array.from({ length: N * S }, () => rng.uniform());
      const cpu = new FrameStack(N, S, K), gpu = new GpuFrameStack(N, S, K);
      const f0 = frames();
      cpu.reset(f0);
      const t0 = E.tensor(f0, [N, S]);
      let st = gpu.reset(t0);
      t0.dispose();
      expect(Array.from(await st.data())).toEqual(Array.from(cpu.out));
      for (let t = 0; t < 30; t++) {
        const f = frames(), fin = frames();
        const restart = Float32Array.from({ length: N }, () => (rng.uniform() < 0.25 ? 1 : 0));
        // the restarts split over two flag tensors (a GPU env's terminated and truncated)
        const byTerm = restart.map((x, i) => (i % 2 ? 0 : x)), byTrunc = restart.map((x, i) => (i % 2 ? x : 0));
        const [F, FIN, R, R2] = [E.tensor(f, [N, S]), E.tensor(fin, [N, S]), E.tensor(byTerm, [N]), E.tensor(byTrunc, [N])];
        // withLast before the push, as a rollout takes the final observation of the old stack
        const wl = gpu.withLast(st, FIN);
        const want = new Float32Array(N * cpu.size);
        for (let i = 0; i < N; i++) cpu.withLast(i, fin, i, want, i * cpu.size);
        expect(Array.from(await wl.data())).toEqual(Array.from(want));
        const next = gpu.push(st, F, R, R2);
        for (let i = 0; i < N; i++) cpu.push(i, f, i, restart[i] === 1);
        expect(Array.from(await next.data()), `step ${t}`).toEqual(Array.from(cpu.out));
        E.dispose([F, FIN, R, R2, wl, st]);
        st = next;
      }
      st.dispose();
      expect(E.memory().liveBuffers).toBe(live0);
    });
  }

  it('refuses shapes that do not match', () => {
    const g = new GpuFrameStack(2, 3, 2);
    const a = E.zeros([2, 6]), f = E.zeros([2, 4]), r = E.zeros([3]);
    expect(() => g.push(a, f, E.zeros([2]))).toThrow(/frames of shape \[2,4\] do not hold 2 rows of 3/);
    expect(() => g.push(a, E.zeros([2, 3]), r)).toThrow(/3 restart flags for 2 envs/);
    expect(() => g.push(a, E.zeros([2, 3]), E.zeros([2]), r)).toThrow(/3 restart flags for 2 envs/);
    expect(() => new GpuFrameStack(2, 3, 0)).toThrow(/k must be an integer >= 1, got 0/);
    E.dispose([a, f, r]);
  });
});
