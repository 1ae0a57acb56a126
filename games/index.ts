// Package entry `stackelberg-gpu/games`: the Stackelberg game layer (players and objectives as a
// `Game`, update rules including the exact total-derivative one, `play`) and the toy games.
// Plotting and the figure script stay out (games/figures.ts is a command, not a module).
export * from './game.ts';
export * from './toys.ts';
