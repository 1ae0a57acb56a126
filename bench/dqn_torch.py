"""CleanRL-style DQN in PyTorch (CPU), for the training-loop speed comparison with rl/dqn.ts.

Same env logic, network, batch size and train frequency as bench/dqn_speed.ts:
  env      a MinAtar-shaped stand-in (10x10x4 binary frames with ~10 % cells on, reward 1 with
           p 0.05, episodes of 100 steps; numpy, as bench/ppo_torch.py's DummyGridVec)
  network  the released SCORER MinAtar network: flatten -> L1Norm -> Linear(400,128) -> ReLU ->
           Linear(128,128) -> ReLU -> L1Norm, Q head Linear(128,128) -> ReLU -> Linear(128,3);
           orthogonal init (sqrt 2, last layer 0.01)
  loop     CleanRL dqn.py: epsilon-greedy (a forward on vector steps where some env acts greedily,
           as CleanRL skips it when it explores), a uint8 replay buffer
           (numpy), uniform sampling with replacement, MSE TD loss, Adam, global grad-norm
           clip 0.5, hard target copies; one update every --train-freq vector steps.
Prints one JSON line: {"impl": "torch", "steps_per_s": ..., ...}.

  python3 bench/dqn_torch.py --num-envs 8 --batch 64 --train-freq 1 --steps 4000
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn


class DummyGridVec:
    def __init__(self, n, seed):
        self.n, self.rng = n, np.random.default_rng(seed)
        self.t = np.zeros(n, dtype=np.int64)

    def obs(self):
        return (self.rng.random((self.n, 10, 10, 4)) < 0.1).astype(np.float32)

    def step(self, a):
        self.t += 1
        term = self.t >= 100
        self.t[term] = 0
        r = (self.rng.random(self.n) < 0.05).astype(np.float32)
        o = self.obs()
        return o, r, term


def layer_init(layer, std=np.sqrt(2)):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, 0.0)
    return layer


def l1norm(x):
    return x / torch.clamp(x.abs().mean(-1, keepdim=True), min=1e-8)


class QNet(nn.Module):
    def __init__(self, n_actions):
        super().__init__()
        self.e0, self.e1 = layer_init(nn.Linear(400, 128)), layer_init(nn.Linear(128, 128))
        self.h0, self.h1 = layer_init(nn.Linear(128, 128)), layer_init(nn.Linear(128, n_actions), 0.01)

    def forward(self, x):
        h = l1norm(x.reshape(x.shape[0], -1))
        h = l1norm(torch.relu(self.e1(torch.relu(self.e0(h)))))
        return self.h1(torch.relu(self.h0(h)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--train-freq", type=int, default=1)
    p.add_argument("--steps", type=int, default=4000, help="timed env steps (after the warm-up)")
    p.add_argument("--learning-starts", type=int, default=512)
    p.add_argument("--buffer", type=int, default=10000)
    p.add_argument("--target-every", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--eps-decay", type=int, default=20000, help="env steps of the linear epsilon decay 1 -> --eps-end (1: the end value from the start, nearly every step greedy)")
    p.add_argument("--eps-from-learning-starts", action="store_true", help="the decay starts at --learning-starts (the bench's whole-run case) instead of step 0")
    p.add_argument("--eps-end", type=float, default=0.05, help="the final epsilon (0.05 CleanRL, 0.1 the MinAtar reference)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    env = DummyGridVec(a.num_envs, 0)
    q, target = QNet(3), QNet(3)
    target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=1e-4)
    cap = a.buffer
    b_obs = np.zeros((cap, 400), np.uint8)
    b_next = np.zeros((cap, 400), np.uint8)
    b_act = np.zeros(cap, np.int64)
    b_rew = np.zeros(cap, np.float32)
    b_done = np.zeros(cap, np.float32)
    pos = size = 0
    obs = env.obs()
    step = it = 0
    t0 = None
    total = a.learning_starts + a.steps
    while step < total:
        if t0 is None and step >= a.learning_starts:
            t0, c0, s0 = time.perf_counter(), time.process_time(), step
        t_eps = step - a.learning_starts if a.eps_from_learning_starts else step
        # CleanRL's linear_schedule (and ours, rl/dqn/losses.ts epsilonAt): 1 -> eps_end over eps_decay steps
        eps = max(a.eps_end, 1 + (a.eps_end - 1) * t_eps / a.eps_decay)
        rand = rng.random(a.num_envs) < eps
        act = rng.integers(0, 3, a.num_envs)
        # CleanRL runs the Q-network only when it acts greedily (dqn.py: one draw for all envs;
        # here one per env, as ours: the forward runs when any env is greedy)
        if not rand.all():
            with torch.no_grad():
                greedy = q(torch.from_numpy(obs)).argmax(1).numpy()
            act = np.where(rand, act, greedy)
        nobs, r, term = env.step(act)
        for i in range(a.num_envs):
            b_obs[pos] = obs[i].reshape(-1)
            b_next[pos] = nobs[i].reshape(-1)
            b_act[pos], b_rew[pos], b_done[pos] = act[i], r[i], term[i]
            pos = (pos + 1) % cap
            size = min(size + 1, cap)
        obs = nobs
        step += a.num_envs
        it += 1
        if step >= a.learning_starts and it % a.train_freq == 0:
            idx = rng.integers(0, size, a.batch)
            o = torch.from_numpy(b_obs[idx].astype(np.float32))
            no = torch.from_numpy(b_next[idx].astype(np.float32))
            with torch.no_grad():
                y = torch.from_numpy(b_rew[idx]) + 0.99 * (1 - torch.from_numpy(b_done[idx])) * target(no).max(1).values
            qa = q(o).gather(1, torch.from_numpy(b_act[idx]).unsqueeze(1)).squeeze(1)
            loss = ((qa - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(q.parameters(), 0.5)
            opt.step()
            if step // a.target_every != (step - a.num_envs) // a.target_every:
                target.load_state_dict(q.state_dict())
    s = time.perf_counter() - t0
    cpu = time.process_time() - c0  # all threads of this process, like ours' process.cpuUsage
    print(json.dumps({"impl": "torch", "num_envs": a.num_envs, "batch": a.batch, "train_freq": a.train_freq, "steps_per_s": (step - s0) / s,
                      "steps_per_cpu_s": (step - s0) / cpu, "threads": a.threads}))


if __name__ == "__main__":
    main()
