// Embedding the engine in a WebGPU program that owns the device (docs/browser.md quotes these
// two functions; test/browser/pages.test.ts runs them through embed.html):
//   1. sharedDevice: init({ device }) with the caller's GPUDevice; destroy() releases the
//      engine's buffers and leaves the device to its owner.
//   2. drawFromEngineBuffer: a render pipeline of the caller reads an engine tensor's GPUBuffer
//      directly (no readback to the CPU) and draws a MinAtar observation.
//   3. exchangeWithTfjs (tfjs_exchange.ts): tfjs-webgpu on the same device; tensors pass both ways
//      through their GPUBuffers.
// In an application the import is `import * as E from 'stackelberg-gpu'` (or out/web/js/engine.js).

import * as E from '../../index.ts';
import { makeEnv } from '../../rl/envs/index.ts';
import { $, errorText, status, webgpuProblem } from './ui.ts';

/** Example 1: the engine on a device it did not create. */
export async function sharedDevice() {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  // The engine binds up to 10 storage buffers per kernel (the default limit is 8).
  const device = await adapter.requestDevice({
    requiredLimits: { maxStorageBuffersPerShaderStage: Math.min(10, adapter.limits.maxStorageBuffersPerShaderStage) },
  });
  await E.init({ device }); // adopts the device; the engine never destroys it
  const x = E.tensor([1, 2, 3, 4], [2, 2]);
  const y = E.matmul(x, x);
  const product = Array.from(await y.data());
  E.dispose([x, y]);
  const live = E.memory().liveBuffers; // 0: every tensor's buffer went back
  E.destroy(); // frees the engine's buffers; `device` is still the caller's
  return { device, product, live };
}

/** Colours of Breakout's four channels (paddle, ball, trail, brick); cells without any stay dark. */
const COLOURS = [[0.2, 0.6, 1], [1, 1, 1], [1, 0.6, 0.2], [0.9, 0.2, 0.3]];

/**
 * Example 2: a caller's render pass draws the 10×10×C observation held by an engine tensor into
 * `target` (a canvas context's getCurrentTexture(), or any RENDER_ATTACHMENT texture), binding
 * the tensor's GPUBuffer as a read-only storage buffer of the fragment shader: no CPU copy.
 */
export function drawFromEngineBuffer(device: GPUDevice, target: GPUTexture, obs: E.Tensor) {
  const channels = obs.shape[2];
  E.flush(); // the engine's pending work reaches the queue before this render pass
  const { buffer, offset, size } = obs.buffer;
  const colours = Array.from({ length: channels }, (_, c) => `vec3f(${(COLOURS[c] ?? [1, 1, 1]).join(', ')})`);
  const module = device.createShaderModule({
    code: /* wgsl */ `
      @group(0) @binding(0) var<storage, read> obs: array<f32>;
      const C = ${channels}u;
      const COLOURS = array<vec3f, ${channels}>(${colours.join(', ')});
      @vertex fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4f {
        let p = array<vec2f, 3>(vec2f(-1, -1), vec2f(3, -1), vec2f(-1, 3));
        return vec4f(p[i], 0, 1);
      }
      @fragment fn fs(@builtin(position) pos: vec4f) -> @location(0) vec4f {
        let cell = vec2u(pos.xy * 10.0 / vec2f(${target.width}.0, ${target.height}.0));
        let base = (cell.y * 10u + cell.x) * C;
        for (var c = 0u; c < C; c++) {
          if (obs[base + c] > 0.5) { return vec4f(COLOURS[c], 1); }
        }
        return vec4f(0.07, 0.07, 0.07, 1);
      }`,
  });
  const pipeline = device.createRenderPipeline({
    layout: 'auto',
    vertex: { module, entryPoint: 'vs' },
    fragment: { module, entryPoint: 'fs', targets: [{ format: target.format }] },
  });
  const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer, offset, size } }] });
  const enc = device.createCommandEncoder();
  const pass = enc.beginRenderPass({ colorAttachments: [{ view: target.createView(), loadOp: 'clear', storeOp: 'store', clearValue: [0, 0, 0, 1] }] });
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.draw(3);
  pass.end();
  device.queue.submit([enc.finish()]);
}

/**
 * The texture's pixels, shown in a 2D canvas. (Headless Chromium 156 on SwiftShader drops the
 * WebGPU instance on a canvas context's getCurrentTexture(), so this page renders into a
 * texture and copies it out; a browser with a GPU can pass getCurrentTexture() directly.)
 */
async function showTexture(device: GPUDevice, texture: GPUTexture, canvas: HTMLCanvasElement): Promise<Uint8ClampedArray> {
  const { width, height } = texture;
  const bytesPerRow = Math.ceil((width * 4) / 256) * 256;
  const buf = device.createBuffer({ size: bytesPerRow * height, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
  const enc = device.createCommandEncoder();
  enc.copyTextureToBuffer({ texture }, { buffer: buf, bytesPerRow }, [width, height]);
  device.queue.submit([enc.finish()]);
  await buf.mapAsync(GPUMapMode.READ);
  const rows = new Uint8Array(buf.getMappedRange());
  const px = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) px.set(rows.subarray(y * bytesPerRow, y * bytesPerRow + width * 4), y * width * 4);
  buf.unmap();
  buf.destroy();
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d')!.putImageData(new ImageData(px, width, height), 0, 0);
  return px;
}

async function main() {
  const problem = await webgpuProblem();
  if (problem) {
    status(problem, 'error');
    document.body.dataset.ready = 'no-webgpu';
    return;
  }
  try {
    const { device, product, live } = await sharedDevice();
    // The device outlived the engine: the caller's own buffer round trip still works.
    const buf = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buf, 0, new Float32Array([5, 6, 7, 8]));
    await buf.mapAsync(GPUMapMode.READ);
    const after = Array.from(new Float32Array(buf.getMappedRange().slice(0)));
    buf.unmap();
    buf.destroy();

    const seed = Number(new URLSearchParams(location.search).get('seed') ?? 3);
    const env = makeEnv('minatar/breakout', { numEnvs: 1, seed, preset: 'gymnax' });
    const frame = env.reset(seed);
    const channels = frame.length / 100;
    await E.init({ device });
    const obs = E.tensor(frame, [10, 10, channels]);
    const texture = device.createTexture({ size: [200, 200], format: 'rgba8unorm', usage: GPUTextureUsage.RENDER_ATTACHMENT | GPUTextureUsage.COPY_SRC });
    drawFromEngineBuffer(device, texture, obs);
    const px = await showTexture(device, texture, $<HTMLCanvasElement>('grid'));
    texture.destroy();
    obs.dispose();
    // each cell's centre: lit where the observation has a channel set
    const cells: number[] = [];
    for (let y = 0; y < 10; y++) {
      for (let x = 0; x < 10; x++) {
        const k = (Math.floor((y + 0.5) * 20) * 200 + Math.floor((x + 0.5) * 20)) * 4;
        cells.push(px[k] + px[k + 1] + px[k + 2] > 60 ? 1 : 0);
      }
    }
    E.destroy();
    // Example 3 (tfjs on the same device), loaded on demand; its failure does not hide the others.
    let tfjs: unknown;
    try {
      const { exchangeWithTfjs } = await import('./tfjs_exchange.ts');
      tfjs = await exchangeWithTfjs(device);
    } catch (e) {
      tfjs = { error: errorText(e) };
    }
    const result = { product, live, after, seed, cells, tfjs };
    $('result').textContent = JSON.stringify(result);
    device.destroy();
    document.body.dataset.ready = 'yes';
    status('the examples ran: see the numbers below and the grid drawn from the engine buffer', 'ok');
  } catch (e) {
    document.body.dataset.ready = 'failed';
    console.error((e as Error).stack);
    status(errorText(e), 'error');
  }
}

void main();
