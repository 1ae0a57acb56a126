// Benchmarks' A/B switches: a module-level setting that turns a code path on or off for calls
// made from now on, so one process can time both paths alternately (bench/sprig_ab.ts,
// bench/alternate.ts). One piece of code for all of them instead of a hand-written getter/setter each.

export interface AbSwitch {
  /** The current setting. */
  readonly on: boolean;
  /** Sets the switch when `on` is given; returns the previous setting either way. */
  set: (on?: boolean) => boolean;
}

export function abSwitch(initial: boolean): AbSwitch {
  let value = initial;
  return {
    get on() {
      return value;
    },
    set: (on?: boolean) => {
      const was = value;
      if (on !== undefined) value = on;
      return was;
    },
  };
}
