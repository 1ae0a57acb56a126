/**
 * MJCF models of the six Gymnasium v5 locomotion/reaching tasks, written here from the numbers
 * of Gymnasium's model files (Farama-Foundation/Gymnasium, gymnasium/envs/mujoco/assets/, MIT,
 * read at commit 3f0476a for their facts; the v5 tasks load hopper.xml, walker2d_v5.xml,
 * half_cheetah.xml, swimmer.xml, reacher.xml and ant.xml). Each number below names the file it
 * comes from. Geometry is given in world coordinates of the initial pose (the way the bodies
 * are described: "the thigh runs from z 1.05 down to 0.6") and converted to MuJoCo's
 * body-local frames by the small helpers here. Only what affects the simulation is modelled:
 * no lights, textures, materials or cameras.
 *
 * Masses come from the geoms (MuJoCo's inertiafromgeom) at the density each file uses
 * (MuJoCo's default 1000 unless stated), so the body dimensions fix them.
 */

type V3 = readonly [number, number, number];

const f = (x: number): string => {
  // Shortest round-trip form, so the XML carries exactly the double computed here.
  const s = String(x);
  return s === '-0' ? '0' : s;
};
const v = (p: readonly number[]): string => p.map(f).join(' ');
const sub = (a: V3, b: V3): V3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];

/** A capsule from `a` to `b` (world coordinates), placed in a body whose origin is `origin`. */
function capsule(name: string, a: V3, b: V3, radius: number, origin: V3, extra = ''): string {
  return `<geom name="${name}" type="capsule" fromto="${v(sub(a, origin))} ${v(sub(b, origin))}" size="${f(radius)}"${extra ? ' ' + extra : ''}/>`;
}

const deg = 'angle="degree"';

/**
 * Not from Gymnasium's files: the size of each MjData's arena (contacts, constraints, scratch).
 * MuJoCo's default (about 13 MB per MjData) would cap a process at ~150 envs in the 2 GB
 * WebAssembly heap; these models used ≤ 34 kB (maxuse_arena) under bang-bang random play,
 * 3000 steps × 4 envs each, and with Ant upside down or Walker2d lying flat, so 1 MB leaves a
 * wide margin and lets 1024 envs fit. The arena's size does not change the simulation.
 */
const ARENA = '<size memory="1M"/>';

// ---------------------------------------------------------------------------------------------
// Hopper (hopper.xml, the file Hopper-v5 loads). A one-legged planar robot: torso, thigh, leg,
// foot, every part a capsule; the root slides in x and z and hinges about y.

/** The hopper's and the walker's shared upper body (walker2d_v5.xml repeats hopper.xml's numbers). */
const PLANAR_TORSO = {
  z: 1.25, // hopper.xml / walker2d_v5.xml: torso body at z 1.25 (the rootz joint's ref)
  top: 1.45, // torso capsule half-length 0.2 about z 1.25, radius 0.05
  bottom: 1.05,
  radius: 0.05,
  thighBottom: 0.6, // thigh capsule from z 1.05 down to 0.6 (half-length 0.225), radius 0.05
  legBottom: 0.1, // leg capsule from z 0.6 down to 0.1 (half-length 0.25), radius 0.04
  legRadius: 0.04,
  kneeZ: 0.6, // leg_joint at z 0.6 (body at 0.35, joint pos +0.25)
  ankleZ: 0.1, // foot_joint at z 0.1
  footRadius: 0.06,
} as const;

/** torso + thigh + leg + foot in local frames; shared by Hopper and both Walker2d legs. */
function planarLeg(
  suffix: string,
  foot: { toe: number; heel: number; bodyX: number; friction: number; range: [number, number] },
  thighRange: [number, number],
): string {
  const T = PLANAR_TORSO;
  const thighBody: V3 = [0, 0, T.bottom]; // thigh body at the hip, z 1.05
  const legBody: V3 = [0, 0, (T.thighBottom + T.legBottom) / 2]; // leg body at the leg capsule's centre, z 0.35
  const footBody: V3 = [foot.bodyX, 0, 0]; // the foot body's frame at z 0 (only a frame: inertia comes from the geom)
  const ankle: V3 = [0, 0, T.ankleZ];
  return [
    `<body name="thigh${suffix}" pos="${v(sub(thighBody, [0, 0, T.z]))}">`,
    `<joint name="thigh${suffix}_joint" type="hinge" axis="0 -1 0" pos="0 0 0" range="${v(thighRange)}"/>`,
    capsule(`thigh${suffix}_geom`, [0, 0, T.bottom], [0, 0, T.thighBottom], T.radius, thighBody, 'friction="0.9"'),
    `<body name="leg${suffix}" pos="${v(sub(legBody, thighBody))}">`,
    `<joint name="leg${suffix}_joint" type="hinge" axis="0 -1 0" pos="${v(sub([0, 0, T.kneeZ], legBody))}" range="${v(thighRange)}"/>`,
    capsule(`leg${suffix}_geom`, [0, 0, T.kneeZ], [0, 0, T.legBottom], T.legRadius, legBody, 'friction="0.9"'),
    `<body name="foot${suffix}" pos="${v(sub(footBody, legBody))}">`,
    `<joint name="foot${suffix}_joint" type="hinge" axis="0 -1 0" pos="${v(sub(ankle, footBody))}" range="${v(foot.range)}"/>`,
    capsule(`foot${suffix}_geom`, [foot.heel, 0, T.ankleZ], [foot.toe, 0, T.ankleZ], T.footRadius, footBody, `friction="${f(foot.friction)}"`),
    '</body></body></body>',
  ].join('\n');
}

/**
 * The root: x and z slides and a y hinge at the torso centre, all free. hopper.xml and
 * walker2d_v5.xml put the slides at the world origin (`slideZ` −1.25 below the torso) and give
 * rootz ref 1.25, so qpos[1] is the torso's height; half_cheetah.xml puts them at the torso
 * with no ref, so its qpos[1] is the height change.
 */
function planarRoot(slideZ: number, ref?: number): string {
  const free = 'armature="0" damping="0" stiffness="0" limited="false"';
  return [
    `<joint name="rootx" type="slide" axis="1 0 0" pos="0 0 ${f(slideZ)}" ${free}/>`,
    `<joint name="rootz" type="slide" axis="0 0 1" pos="0 0 ${f(slideZ)}"${ref !== undefined ? ` ref="${f(ref)}"` : ''} ${free}/>`,
    `<joint name="rooty" type="hinge" axis="0 1 0" pos="0 0 0" ${free}/>`,
  ].join('\n');
}

export function hopperXml(): string {
  const T = PLANAR_TORSO;
  return `<mujoco model="hopper">
${ARENA}
<compiler ${deg} inertiafromgeom="true"/>
<option integrator="RK4" timestep="0.002"/>
<default>
  <joint armature="1" damping="1" limited="true"/>
  <geom contype="1" conaffinity="1" condim="1" margin="0.001" solimp=".8 .8 .01" solref=".02 1"/>
</default>
<worldbody>
  <geom name="floor" type="plane" size="20 20 .125" conaffinity="1" condim="3"/>
  <body name="torso" pos="0 0 ${f(T.z)}">
    ${planarRoot(-T.z, T.z)}
    ${capsule('torso_geom', [0, 0, T.top], [0, 0, T.bottom], T.radius, [0, 0, T.z], 'friction="0.9"')}
    ${planarLeg('', { toe: 0.26, heel: -0.13, bodyX: 0.13, friction: 2.0, range: [-45, 45] }, [-150, 0])}
  </body>
</worldbody>
<actuator>
  <motor joint="thigh_joint" gear="200" ctrlrange="-1 1" ctrllimited="true"/>
  <motor joint="leg_joint" gear="200" ctrlrange="-1 1" ctrllimited="true"/>
  <motor joint="foot_joint" gear="200" ctrlrange="-1 1" ctrllimited="true"/>
</actuator>
</mujoco>`;
  // hopper.xml numbers used above: RK4 at 0.002 s; joints armature 1, damping 1 (root joints 0);
  // geoms contype/conaffinity 1, condim 1, margin 0.001, solimp (.8 .8 .01), solref (.02 1);
  // floor plane 20 × 20 with condim 3; thigh and knee ranges −150…0°, ankle −45…45°; foot
  // capsule radius 0.06 from x −0.13 to 0.26 at z 0.1 (centre 0.065, half-length 0.195),
  // friction 2.0 (others 0.9); three motors of gear 200 on ctrl in [−1, 1].
}

// ---------------------------------------------------------------------------------------------
// Walker2d (walker2d_v5.xml): the hopper's torso with two hopper-like legs; shorter feet
// (x 0 … 0.2, radius 0.06) and both feet at friction 1.9 (the v5 file's change).

export function walker2dXml(): string {
  const T = PLANAR_TORSO;
  const foot = { toe: 0.2, heel: 0, bodyX: 0.2, friction: 1.9, range: [-45, 45] as [number, number] };
  return `<mujoco model="walker2d">
${ARENA}
<compiler ${deg} inertiafromgeom="true"/>
<option integrator="RK4" timestep="0.002"/>
<default>
  <joint armature="0.01" damping=".1" limited="true"/>
  <geom contype="1" conaffinity="0" condim="3" density="1000" friction=".7 .1 .1"/>
</default>
<worldbody>
  <geom name="floor" type="plane" size="40 40 40" conaffinity="1" condim="3"/>
  <body name="torso" pos="0 0 ${f(T.z)}">
    ${planarRoot(-T.z, T.z)}
    ${capsule('torso_geom', [0, 0, T.top], [0, 0, T.bottom], T.radius, [0, 0, T.z], 'friction="0.9"')}
    ${planarLeg('', foot, [-150, 0])}
    ${planarLeg('_left', foot, [-150, 0])}
  </body>
</worldbody>
<actuator>
  ${['thigh', 'leg', 'foot', 'thigh_left', 'leg_left', 'foot_left'].map((j) => `<motor joint="${j}_joint" gear="100" ctrlrange="-1 1" ctrllimited="true"/>`).join('\n  ')}
</actuator>
</mujoco>`;
  // walker2d_v5.xml numbers: RK4 at 0.002 s; joints armature 0.01, damping 0.1 (root 0);
  // geoms contype 1, conaffinity 0 (only the floor collides with the body), condim 3,
  // density 1000, friction (.7 .1 .1) unless set (torso/thigh/leg 0.9, feet 1.9); floor
  // 40 × 40; same segment lengths and ranges as hopper.xml; six motors of gear 100.
}

// ---------------------------------------------------------------------------------------------
// HalfCheetah (half_cheetah.xml). A planar body of capsules (radius 0.046) with a back and a
// front leg of three links each; the joints are stiff springs; total mass set to 14 kg.

/** A capsule given the way half_cheetah.xml gives it: centre, rotation about y (rad), half-length. */
function yCapsule(name: string, pos: V3, angle: number, half: number, extra = ''): string {
  return `<geom name="${name}" type="capsule" pos="${v(pos)}" axisangle="0 1 0 ${f(angle)}" size="0.046 ${f(half)}"${extra ? ' ' + extra : ''}/>`;
}

interface CheetahLink {
  name: string;
  body: V3; // body position in its parent's frame
  range: [number, number]; // joint range (rad)
  stiffness: number;
  damping: number;
  geom: { pos: V3; angle: number; half: number };
  gear: number;
  shade?: boolean; // drawn lighter in the picture (shin and foot)
}

// half_cheetah.xml: every leg joint hinges about y at its body's origin.
const CHEETAH_BACK: CheetahLink[] = [
  { name: 'bthigh', body: [-0.5, 0, 0], range: [-0.52, 1.05], stiffness: 240, damping: 6, geom: { pos: [0.1, 0, -0.13], angle: -3.8, half: 0.145 }, gear: 120 },
  { name: 'bshin', body: [0.16, 0, -0.25], range: [-0.785, 0.785], stiffness: 180, damping: 4.5, geom: { pos: [-0.14, 0, -0.07], angle: -2.03, half: 0.15 }, gear: 90, shade: true },
  { name: 'bfoot', body: [-0.28, 0, -0.14], range: [-0.4, 0.785], stiffness: 120, damping: 3, geom: { pos: [0.03, 0, -0.097], angle: -0.27, half: 0.094 }, gear: 60, shade: true },
];
const CHEETAH_FRONT: CheetahLink[] = [
  { name: 'fthigh', body: [0.5, 0, 0], range: [-1, 0.7], stiffness: 180, damping: 4.5, geom: { pos: [-0.07, 0, -0.12], angle: 0.52, half: 0.133 }, gear: 120 },
  { name: 'fshin', body: [-0.14, 0, -0.24], range: [-1.2, 0.87], stiffness: 120, damping: 3, geom: { pos: [0.065, 0, -0.09], angle: -0.6, half: 0.106 }, gear: 60, shade: true },
  { name: 'ffoot', body: [0.13, 0, -0.18], range: [-0.5, 0.5], stiffness: 60, damping: 1.5, geom: { pos: [0.045, 0, -0.07], angle: -0.6, half: 0.07 }, gear: 30, shade: true },
];

function cheetahChain(links: CheetahLink[]): string {
  const open = links.map(
    (l) =>
      `<body name="${l.name}" pos="${v(l.body)}">\n` +
      `<joint name="${l.name}" type="hinge" axis="0 1 0" pos="0 0 0" range="${v(l.range)}" stiffness="${f(l.stiffness)}" damping="${f(l.damping)}"/>\n` +
      yCapsule(l.name, l.geom.pos, l.geom.angle, l.geom.half),
  );
  return open.join('\n') + '</body>'.repeat(links.length);
}

export function halfCheetahXml(): string {
  return `<mujoco model="cheetah">
${ARENA}
<compiler angle="radian" inertiafromgeom="true" settotalmass="14"/>
<option gravity="0 0 -9.81" timestep="0.01"/>
<default>
  <joint armature=".1" damping=".01" limited="true" stiffness="8" solimplimit="0 .8 .03" solreflimit=".02 1"/>
  <geom contype="1" conaffinity="0" condim="3" friction=".4 .1 .1" solimp="0.0 0.8 0.01" solref="0.02 1"/>
</default>
<worldbody>
  <geom name="floor" type="plane" size="40 40 40" conaffinity="1" condim="3"/>
  <body name="torso" pos="0 0 .7">
    ${planarRoot(0)}
    <geom name="torso" type="capsule" fromto="-.5 0 0 .5 0 0" size="0.046"/>
    ${yCapsule('head', [0.6, 0, 0.1], 0.87, 0.15)}
    ${cheetahChain(CHEETAH_BACK)}
    ${cheetahChain(CHEETAH_FRONT)}
  </body>
</worldbody>
<actuator>
  ${[...CHEETAH_BACK, ...CHEETAH_FRONT].map((l) => `<motor name="${l.name}" joint="${l.name}" gear="${f(l.gear)}" ctrlrange="-1 1" ctrllimited="true"/>`).join('\n  ')}
</actuator>
</mujoco>`;
  // half_cheetah.xml numbers: Euler at 0.01 s, gravity −9.81; settotalmass 14; joints armature
  // 0.1, damping 0.01, stiffness 8 by default (root joints 0), limit softness solimplimit
  // (0 .8 .03), solreflimit (.02 1); geoms condim 3, friction (.4 .1 .1), solimp (0 .8 .01),
  // solref (.02 1), contype 1 / conaffinity 0; torso capsule x −0.5 … 0.5 at z 0.7; head
  // capsule at (0.6, 0, 0.1) tilted 0.87 rad, half-length 0.15; the per-link table above;
  // motor gears 120 90 60 120 60 30.
}

// ---------------------------------------------------------------------------------------------
// Swimmer (swimmer.xml): three capsules of length 1 and radius 0.1 in a viscous fluid
// (density 4000, viscosity 0.1), moving in the plane; nothing collides.

export function swimmerXml(): string {
  // Segments along −x from the nose at x 1.5: torso 1.5 … 0.5, mid 0.5 … −0.5, back −0.5 … −1.5.
  const seg = (name: string, a: number, b: number, origin: number) =>
    `<geom name="${name}" type="capsule" fromto="${f(a - origin)} 0 0 ${f(b - origin)} 0 0" size="0.1" density="1000"/>`;
  return `<mujoco model="swimmer">
${ARENA}
<compiler ${deg} inertiafromgeom="true"/>
<option integrator="RK4" timestep="0.01" density="4000" viscosity="0.1"/>
<default>
  <geom contype="0" conaffinity="0" condim="1"/>
  <joint armature="0.1"/>
</default>
<worldbody>
  <geom name="floor" type="plane" pos="0 0 -0.1" size="40 40 0.1" condim="3"/>
  <body name="torso" pos="0 0 0">
    ${seg('torso_geom', 1.5, 0.5, 0)}
    <joint name="slider1" type="slide" axis="1 0 0" pos="0 0 0"/>
    <joint name="slider2" type="slide" axis="0 1 0" pos="0 0 0"/>
    <joint name="free_body_rot" type="hinge" axis="0 0 1" pos="0 0 0"/>
    <body name="mid" pos="0.5 0 0">
      ${seg('mid_geom', 0.5, -0.5, 0.5)}
      <joint name="motor1_rot" type="hinge" axis="0 0 1" pos="0 0 0" limited="true" range="-100 100"/>
      <body name="back" pos="-1 0 0">
        ${seg('back_geom', -0.5, -1.5, -0.5)}
        <joint name="motor2_rot" type="hinge" axis="0 0 1" pos="0 0 0" limited="true" range="-100 100"/>
      </body>
    </body>
  </body>
</worldbody>
<actuator>
  <motor joint="motor1_rot" gear="150" ctrlrange="-1 1" ctrllimited="true"/>
  <motor joint="motor2_rot" gear="150" ctrlrange="-1 1" ctrllimited="true"/>
</actuator>
</mujoco>`;
  // swimmer.xml numbers: RK4 at 0.01 s, fluid density 4000 and viscosity 0.1; geoms contype and
  // conaffinity 0, condim 1, density 1000; joints armature 0.1; root slides x, y and hinge z
  // (unlimited); the two body joints ±100°; motors gear 150.
}

// ---------------------------------------------------------------------------------------------
// Reacher (reacher.xml): a two-link arm (links 0.1 long, radius 0.01) in the plane z 0.01,
// reaching for a target that is positioned by two slide joints; nothing collides.

export function reacherXml(): string {
  return `<mujoco model="reacher">
${ARENA}
<compiler angle="radian" inertiafromgeom="true"/>
<option gravity="0 0 -9.81" integrator="RK4" timestep="0.01"/>
<default>
  <joint armature="1" damping="1" limited="true"/>
  <geom contype="0" friction="1 0.1 0.1"/>
</default>
<worldbody>
  <geom name="ground" type="plane" size="1 1 10" contype="0" conaffinity="0"/>
  ${[['sideS', '-.3 -.3 .01 .3 -.3 .01'], ['sideE', '.3 -.3 .01 .3 .3 .01'], ['sideN', '-.3 .3 .01 .3 .3 .01'], ['sideW', '-.3 -.3 .01 -.3 .3 .01']]
    .map(([n, ft]) => `<geom name="${n}" type="capsule" fromto="${ft}" size=".02" conaffinity="0"/>`)
    .join('\n  ')}
  <geom name="root" type="cylinder" fromto="0 0 0 0 0 0.02" size=".011" contype="0" conaffinity="0"/>
  <body name="body0" pos="0 0 .01">
    <geom name="link0" type="capsule" fromto="0 0 0 0.1 0 0" size=".01"/>
    <joint name="joint0" type="hinge" axis="0 0 1" pos="0 0 0" limited="false"/>
    <body name="body1" pos="0.1 0 0">
      <joint name="joint1" type="hinge" axis="0 0 1" pos="0 0 0" limited="true" range="-3.0 3.0"/>
      <geom name="link1" type="capsule" fromto="0 0 0 0.1 0 0" size=".01"/>
      <body name="fingertip" pos="0.11 0 0">
        <geom name="fingertip" type="sphere" pos="0 0 0" size=".01" contype="0"/>
      </body>
    </body>
  </body>
  <body name="target" pos=".1 -.1 .01">
    <joint name="target_x" type="slide" axis="1 0 0" pos="0 0 0" limited="true" range="-.27 .27" ref=".1" armature="0" damping="0" stiffness="0"/>
    <joint name="target_y" type="slide" axis="0 1 0" pos="0 0 0" limited="true" range="-.27 .27" ref="-.1" armature="0" damping="0" stiffness="0"/>
    <geom name="target" type="sphere" pos="0 0 0" size=".009" contype="0" conaffinity="0"/>
  </body>
</worldbody>
<actuator>
  <motor joint="joint0" gear="200" ctrlrange="-1 1" ctrllimited="true"/>
  <motor joint="joint1" gear="200" ctrlrange="-1 1" ctrllimited="true"/>
</actuator>
</mujoco>`;
  // reacher.xml numbers: RK4 at 0.01 s; joints armature 1, damping 1; arena walls (capsules of
  // radius 0.02 on the ±0.3 square, drawn only: contype 0); the arm's first hinge unlimited,
  // the second ±3 rad; fingertip sphere (radius 0.01) 0.11 along the second link; target
  // sphere radius 0.009 on slides of range ±0.27 with ref (0.1, −0.1); motors gear 200.
}

// ---------------------------------------------------------------------------------------------
// Ant (ant.xml): a sphere torso (radius 0.25) on a free joint at z 0.75 with four legs of three
// capsules (radius 0.08) along the diagonals: a fixed 0.2·(±1, ±1) stub, a hip link 0.2·(±1, ±1)
// turning about z, and an ankle link 0.4·(±1, ±1); geom density 5.

interface AntLeg {
  body: string;
  aux: string; // the hip link's body name
  sx: number;
  sy: number;
  ankleAxis: V3;
  ankleRange: [number, number]; // degrees
  geoms: [string, string, string]; // stub, hip link, ankle link
}

// ant.xml: legs in file order (this order fixes the bodies' rows in cfrc_ext and the joints' qpos slots).
const ANT_LEGS: AntLeg[] = [
  { body: 'front_left_leg', aux: 'aux_1', sx: 1, sy: 1, ankleAxis: [-1, 1, 0], ankleRange: [30, 70], geoms: ['aux_1_geom', 'left_leg_geom', 'left_ankle_geom'] },
  { body: 'front_right_leg', aux: 'aux_2', sx: -1, sy: 1, ankleAxis: [1, 1, 0], ankleRange: [-70, -30], geoms: ['aux_2_geom', 'right_leg_geom', 'right_ankle_geom'] },
  { body: 'back_leg', aux: 'aux_3', sx: -1, sy: -1, ankleAxis: [-1, 1, 0], ankleRange: [-70, -30], geoms: ['aux_3_geom', 'back_leg_geom', 'third_ankle_geom'] },
  { body: 'right_back_leg', aux: 'aux_4', sx: 1, sy: -1, ankleAxis: [1, 1, 0], ankleRange: [30, 70], geoms: ['aux_4_geom', 'rightback_leg_geom', 'fourth_ankle_geom'] },
];
/** ant.xml actuator order: leg 4, 1, 2, 3, each hip then ankle, gear 150. */
const ANT_ACTUATORS = [4, 1, 2, 3].flatMap((k) => [`hip_${k}`, `ankle_${k}`]);

export function antXml(): string {
  const legs = ANT_LEGS.map((l, i) => {
    const k = i + 1;
    const d = (s: number): V3 => [s * l.sx, s * l.sy, 0];
    const cap = (name: string, s: number) => `<geom name="${name}" type="capsule" fromto="0 0 0 ${v(d(s))}" size="0.08"/>`;
    return [
      `<body name="${l.body}" pos="0 0 0">`,
      cap(l.geoms[0], 0.2),
      `<body name="${l.aux}" pos="${v(d(0.2))}">`,
      `<joint name="hip_${k}" type="hinge" axis="0 0 1" pos="0 0 0" range="-30 30"/>`,
      cap(l.geoms[1], 0.2),
      `<body name="foot_${k}" pos="${v(d(0.2))}">`,
      `<joint name="ankle_${k}" type="hinge" axis="${v(l.ankleAxis)}" pos="0 0 0" range="${v(l.ankleRange)}"/>`,
      cap(l.geoms[2], 0.4),
      '</body></body></body>',
    ].join('\n');
  });
  return `<mujoco model="ant">
${ARENA}
<compiler ${deg} inertiafromgeom="true"/>
<option integrator="RK4" timestep="0.01"/>
<default>
  <joint armature="1" damping="1" limited="true"/>
  <geom conaffinity="0" condim="3" density="5.0" friction="1 0.5 0.5" margin="0.01"/>
</default>
<worldbody>
  <geom name="floor" type="plane" size="40 40 40" conaffinity="1" condim="3"/>
  <body name="torso" pos="0 0 0.75">
    <geom name="torso_geom" type="sphere" pos="0 0 0" size="0.25"/>
    <joint name="root" type="free" pos="0 0 0" armature="0" damping="0" limited="false" margin="0.01"/>
    ${legs.join('\n    ')}
  </body>
</worldbody>
<actuator>
  ${ANT_ACTUATORS.map((j) => `<motor joint="${j}" gear="150" ctrlrange="-1 1" ctrllimited="true"/>`).join('\n  ')}
</actuator>
</mujoco>`;
  // ant.xml numbers: RK4 at 0.01 s; joints armature 1, damping 1 (free root 0); geoms condim 3,
  // density 5, friction (1 .5 .5), margin 0.01, conaffinity 0; hips ±30°, ankles 30…70° or
  // −70…−30° as in the table; eight motors of gear 150. (The file's unnamed ankle bodies are
  // named foot_k here; names do not change the simulation.)
}

export const MODEL_XML = {
  hopper: hopperXml,
  walker2d: walker2dXml,
  halfcheetah: halfCheetahXml,
  swimmer: swimmerXml,
  reacher: reacherXml,
  ant: antXml,
} as const;
