// Moved: the one CPU RNG is engine/nn/rng.ts (E.Rng). This re-export keeps in-flight imports
// working; import from engine instead. To be removed.
export { Rng, type RngState } from '../../engine/nn/rng.ts';
