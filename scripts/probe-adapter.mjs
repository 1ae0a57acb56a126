// Exits 0 when a WebGPU adapter is available to Node (Dawn), 1 otherwise.
process.env.XDG_RUNTIME_DIR ??= '/tmp';
try {
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const adapter = await create([]).requestAdapter();
  if (!adapter) process.exit(1);
  console.log(`adapter: ${adapter.info.vendor} ${adapter.info.architecture} ${adapter.info.device} ${adapter.info.description}`.trim());
  process.exit(0);
} catch (e) {
  console.error(String(e));
  process.exit(1);
}
