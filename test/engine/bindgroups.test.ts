// Bind groups are cached per (kernel layout, buffers); the buffer pool hands out the lowest free
// id, so a loop that repeats one program reuses its buffers and its bind groups. When buffers
// rotated through the pool instead, every step made new bind groups, and on lavapipe each one's
// descriptor set is a separate memory mapping: a long Stackelberg play exhausted the kernel's
// 65,530 mappings and the process died with SIGSEGV inside createBindGroup.
import fs from 'node:fs';
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { quadraticGame } from '../../games/toys.ts';
import { play, step, type UpdateRule } from '../../games/game.ts';

beforeAll(async () => {
  await E.init();
});

const rule: UpdateRule = { kind: 'stackelberg', leaderLr: 0.1, followerLr: 0.3, lambda: 0, cgIters: 2 };
const memfdMappings = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('memfd:')).length;

describe('bind-group reuse', () => {
  it('a repeated Stackelberg step stops creating bind groups after a few warm-up steps', async () => {
    const rt = E.runtime();
    const g = quadraticGame();
    let s = g.init();
    const advance = () => {
      const next = step(g, s, rule);
      E.dispose(s);
      s = next;
    };
    for (let i = 0; i < 10; i++) advance();
    await E.sync();
    const created = rt.bindGroupsCreated;
    const dispatches = E.counters().dispatches;
    for (let i = 0; i < 50; i++) advance();
    await E.sync();
    const newDispatches = E.counters().dispatches - dispatches;
    expect(newDispatches).toBeGreaterThan(50 * 20);
    // Every one of those dispatches found its bind group in the cache.
    expect(rt.bindGroupsCreated - created).toBe(0);
    E.dispose(s);
  });

  it.skipIf(process.platform !== 'linux')('lavapipe memory mappings stay bounded over 200 steps of play', async () => {
    const before = memfdMappings();
    const g = quadraticGame();
    const s = g.init();
    const t = await play(g, s, rule, 200, { recordEvery: 200 });
    E.dispose([s, t.final]);
    // Before the fix: +40,889 after 400 steps, about half that after 200 (every memfd mapping of
    // the process is counted; a driver without memfd-backed descriptor sets adds ~0).
    expect(memfdMappings() - before).toBeLessThan(3000);
  });
});
