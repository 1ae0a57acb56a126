// Memory ownership, batched execution counters, errors that name the problem, device handling.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { acquireDevice } from '../../engine/device.ts';

beforeAll(async () => {
  await E.init();
});

describe('memory', () => {
  it('live-buffer count is unchanged after 1,000 forward/backward steps inside scope', async () => {
    const w = E.randn([16, 8], 0, 0.3, { seed: 1 });
    const x = E.randn([32, 16], 0, 1, { seed: 2 });
    const lr = 0.01;
    let W = w;
    // warm-up step so lazily created pooled buffers exist before counting
    const step = (cur: E.Tensor) =>
      E.scope(() => {
        const g = E.grad((p: E.Tensor) => E.mean(E.square(E.tanh(E.matmul(x, p)))))(cur) as E.Tensor;
        return E.sub(cur, E.mul(g, lr));
      });
    const before = E.memory().liveBuffers;
    for (let i = 0; i < 1000; i++) {
      const next = step(W);
      if (W !== w) W.dispose();
      W = next;
    }
    await W.data();
    W.dispose();
    expect(E.memory().liveBuffers).toBe(before);
  });

  it('hvp and jvp leave no live buffers behind', async () => {
    const x = E.tensor([1, 2, 3]);
    const v = E.tensor([1, 0, 1]);
    const before = E.memory().liveBuffers;
    for (let i = 0; i < 20; i++) {
      const [hv] = E.hvp((t: E.Tensor) => E.sum(E.exp(E.mul(t, t))), [x], [v]) as E.Tensor[];
      const [o, jt] = E.jvp((t: E.Tensor) => E.tanh(t), [x], [v]);
      E.dispose([hv, o, jt]);
    }
    expect(E.memory().liveBuffers).toBe(before);
  });

  it('scope keeps nested results and keep()-ed tensors, frees the rest', async () => {
    const before = E.memory().liveBuffers;
    let kept!: E.Tensor;
    const out = E.scope(() => {
      const a = E.ones([4]);
      const b = E.add(a, 1);
      kept = E.keep(E.mul(b, 3));
      return { pair: [E.mul(b, 2)], c: E.sum(b) };
    });
    expect(E.memory().liveBuffers).toBe(before + 3);
    expect(Array.from(await out.pair[0].data())).toEqual([4, 4, 4, 4]);
    expect(await out.c.item()).toBe(8);
    E.dispose([out, kept]);
    expect(E.memory().liveBuffers).toBe(before);
  });

  it('reading or using a disposed tensor says so', async () => {
    const t = E.tensor([1, 2]);
    t.dispose();
    await expect(t.data()).rejects.toThrow(/disposed/);
    expect(() => E.add(t, 1)).toThrow(/tensor #\d+ with shape \[2\] was disposed/);
  });

  it('views keep the buffer alive until the last one is disposed', async () => {
    const before = E.memory().liveBuffers;
    const t = E.tensor([1, 2, 3, 4]);
    const v = E.reshape(t, [2, 2]);
    t.dispose();
    expect(await v.array()).toEqual([[1, 2], [3, 4]]);
    v.dispose();
    expect(E.memory().liveBuffers).toBe(before);
  });

  it('sub-views at aligned offsets share one buffer', async () => {
    const flat = E.zeros([192]);
    const a = flat.subView(64, [2, 3]);
    E.assign(a, E.tensor([[1, 2, 3], [4, 5, 6]]));
    const d = await flat.data();
    expect(Array.from(d.subarray(64, 70))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await E.sum(a).item()).toBe(21);
    expect(() => flat.subView(10, [2])).toThrow(/multiple of 64/);
    E.dispose([flat, a]);
  });
});

describe('errors name the problem', () => {
  it('shape mismatches show both shapes', () => {
    expect(() => E.add(E.zeros([2, 3]), E.zeros([4, 3]))).toThrow(/\[2, 3\] and \[4, 3\]/);
    expect(() => E.reshape(E.zeros([2, 3]), [4])).toThrow(/\[2, 3\].*\[4\]/);
    expect(() => E.concat([E.zeros([2, 3]), E.zeros([3, 3])], 1)).toThrow(/\[2, 3\], \[3, 3\]/);
  });

  it('grad of a non-scalar function says so', () => {
    expect(() => E.grad((t: E.Tensor) => E.mul(t, 2))(E.zeros([3]))).toThrow(/must return a scalar.*\[3\]/);
  });

  it('axis out of range', () => {
    expect(() => E.sum(E.zeros([2, 2]), 2)).toThrow(/axis 2 is out of range/);
  });

  it('a GPU validation error surfaces as a thrown error naming the op', async () => {
    const rt = E.runtime();
    const bad = { name: 'broken', code: '@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }' };
    rt.validate = true;
    try {
      rt.dispatch({ kernel: bad, inputs: [], outputs: [], workgroups: [1], label: 'myBrokenOp' });
      await expect(rt.sync()).rejects.toThrow(/myBrokenOp|broken/);
    } finally {
      rt.validate = false;
    }
    // The runtime keeps working afterwards.
    expect(await E.add(E.tensor([1]), 1).item()).toBe(2);
  });
});

describe('batched execution', () => {
  it('ops encode without submitting; one readback is one submit; pipelines are cached', async () => {
    const x = E.tensor([1, 2, 3]);
    await x.data();
    const c0 = E.counters();
    let y = x;
    for (let i = 0; i < 10; i++) y = E.add(E.mul(y, 1.01), 0.5);
    const c1 = E.counters();
    expect(c1.submits).toBe(c0.submits);
    expect(c1.dispatches - c0.dispatches).toBe(20);
    await y.data();
    const c2 = E.counters();
    expect(c2.submits - c1.submits).toBe(1);
    expect(c2.readbacks - c1.readbacks).toBe(1);
    for (let i = 0; i < 10; i++) y = E.add(E.mul(y, 1.01), 0.5);
    expect(E.counters().pipelines).toBe(c2.pipelines);
    const [a, b] = await E.readAll([x, y]);
    expect(a.length + b.length).toBe(6);
    expect(E.counters().readbacks - c2.readbacks).toBe(1);
  });
});

describe('device ownership', () => {
  it('adopts a caller-supplied GPUDevice and never destroys it', async () => {
    const { device } = await acquireDevice();
    await E.init({ device });
    expect(E.runtime().device).toBe(device);
    expect(await E.sum(E.tensor([1, 2, 3])).item()).toBe(6);
    E.destroy();
    // The caller's device still works after the engine let go of it.
    const buf = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    await buf.mapAsync(GPUMapMode.READ);
    expect(new Float32Array(buf.getMappedRange()).length).toBe(4);
    buf.unmap();
    device.destroy();
    await E.init();
    expect(() => E.tensor([1])).not.toThrow();
  });
});
