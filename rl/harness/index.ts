// The run harness of rl/: one loop for every algorithm, on-policy and off-policy, discrete and
// Box action spaces. Public API (docs/rl.md § "The harness" says the same with examples):
//
//   Algorithm modules (types.ts)   OnPolicyAlgorithm<C> / OffPolicyAlgorithm<C>: name, kind,
//                                  actionSpaces, defaults, schema, presets, validate,
//                                  fixedOnResume, create(cfg, env) → agent
//   Agents                         params, optimizers, frameStack?, act(), update() (on-policy)
//                                  or observe() + train() (off-policy), saveState/loadState,
//                                  dispose
//   Configs (config.ts)            RunConfig / OnPolicyConfig / OffPolicyConfig, RUN_DEFAULTS,
//                                  ON_POLICY_SCHEMA / OFF_POLICY_SCHEMA, resolveLayers (unknown
//                                  key → nearest valid key), parseFlag (strict flag parsing)
//   The loop (trainer.ts)          Trainer: step(), train(), evaluate(), saveCheckpoint(),
//                                  loadCheckpoint(); DivergedError; LogLine / EvalLine
//   Runs on disk (run.ts)          prepareRun (all checks, touches nothing), runSeed (lock,
//                                  config.json, resume or fresh, train), readMetrics,
//                                  evaluateCheckpoint
//   Storage (storage.ts)           the interface every file access goes through;
//                                  MemoryStorage; NodeStorage lives in node_storage.ts (the
//                                  only node:fs importer, not re-exported here)
//   Helpers                        sampleCategorical, sampleDiagGaussian, scaleToBox,
//                                  uniformBox (policy.ts); gae (gae.ts); FrameStack, createEnv,
//                                  envSpecOf, randomPolicyReturns (envs.ts)
// The registry of algorithms is rl/registry.ts.

export * from './types.ts';
export * from './config.ts';
export * from './trainer.ts';
export * from './run.ts';
export * from './storage.ts';
export * from './policy.ts';
export * from './gae.ts';
export * from './envs.ts';
