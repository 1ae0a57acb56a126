// Generalised advantage estimation over a [T, N] rollout (time-major, N parallel envs).
//
// Conventions: dones[t·N + i] = 1 when env i's episode ended at transition t (terminated or
// truncated). On truncation the caller has already folded γ·V(final observation) into
// rewards[t], so an ended episode never bootstraps from the *next* episode's first value,
// and a truncated one still bootstraps from its own final state.

export interface GaeResult {
  advantages: Float32Array;
  returns: Float32Array;
}

export function gae(
  rewards: ArrayLike<number>,
  values: ArrayLike<number>,
  dones: ArrayLike<number>,
  lastValues: ArrayLike<number>,
  T: number,
  N: number,
  gamma: number,
  lambda: number,
): GaeResult {
  const adv = new Float32Array(T * N);
  const ret = new Float32Array(T * N);
  for (let i = 0; i < N; i++) {
    let last = 0; // accumulate in float64
    for (let t = T - 1; t >= 0; t--) {
      const k = t * N + i;
      const notDone = 1 - dones[k];
      const nextValue = t === T - 1 ? lastValues[i] : values[k + N];
      const delta = rewards[k] + gamma * nextValue * notDone - values[k];
      last = delta + gamma * lambda * notDone * last;
      adv[k] = last;
      ret[k] = last + values[k];
    }
  }
  return { advantages: adv, returns: ret };
}
