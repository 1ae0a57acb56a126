"""A CleanRL-style SAC (sac_continuous_action.py's structure: two Q networks + targets, a
tanh-Gaussian actor with log-std squashed into [-5, 2], Adam, Polyak targets, fixed alpha) on
Pendulum-v1, written for the speed comparison of bench/sac_speed.ts: env steps per second with
one gradient update per env step, the same network sizes and batch as our run.

Pendulum-v1's dynamics are written out here (numpy), so the bench needs torch and numpy only.
Prints one JSON line: {"steps": ..., "seconds": ..., "sps": ..., "threads": ...}.

    python3 bench/sac_torch.py --hidden 256 --batch 100 --steps 300 --warmup 100
"""
import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Pendulum:
    max_speed, max_torque, dt, g, m, l = 8.0, 2.0, 0.05, 10.0, 1.0, 1.0

    def __init__(self, rng):
        self.rng = rng
        self.reset()

    def reset(self):
        self.th = self.rng.uniform(-math.pi, math.pi)
        self.thdot = self.rng.uniform(-1, 1)
        self.t = 0
        return self.obs()

    def obs(self):
        return np.array([math.cos(self.th), math.sin(self.th), self.thdot], dtype=np.float32)

    def step(self, u):
        u = float(np.clip(u, -self.max_torque, self.max_torque))
        th_n = ((self.th + math.pi) % (2 * math.pi)) - math.pi
        cost = th_n ** 2 + 0.1 * self.thdot ** 2 + 0.001 * u ** 2
        thdot = self.thdot + (3 * self.g / (2 * self.l) * math.sin(self.th) + 3.0 / (self.m * self.l ** 2) * u) * self.dt
        self.thdot = float(np.clip(thdot, -self.max_speed, self.max_speed))
        self.th = self.th + self.thdot * self.dt
        self.t += 1
        return self.obs(), -cost, self.t >= 200


class QNet(nn.Module):
    def __init__(self, obs, act, h):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(obs + act, h), nn.Linear(h, h), nn.Linear(h, 1)

    def forward(self, x, a):
        x = F.relu(self.l1(torch.cat([x, a], 1)))
        return self.l3(F.relu(self.l2(x)))


class Actor(nn.Module):
    def __init__(self, obs, act, h):
        super().__init__()
        self.l1, self.l2 = nn.Linear(obs, h), nn.Linear(h, h)
        self.mean, self.log_std = nn.Linear(h, act), nn.Linear(h, act)

    def dist(self, x):
        x = F.relu(self.l2(F.relu(self.l1(x))))
        log_std = torch.tanh(self.log_std(x))
        return self.mean(x), -5 + 0.5 * 7 * (log_std + 1)

    def sample(self, x):
        mean, log_std = self.dist(x)
        std = log_std.exp()
        u = mean + std * torch.randn_like(mean)
        a = torch.tanh(u)
        logp = (-0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(1)
        logp = logp - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(1)
        return a, logp


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--steps", type=int, default=300, help="timed env steps (one update each)")
    p.add_argument("--warmup", type=int, default=100, help="random env steps first (not timed)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    env = Pendulum(rng)
    obs_dim, act_dim, gamma, alpha, tau = 3, 1, 0.99, 0.2, 0.005
    actor, q1, q2 = Actor(obs_dim, act_dim, args.hidden), QNet(obs_dim, act_dim, args.hidden), QNet(obs_dim, act_dim, args.hidden)
    q1t, q2t = QNet(obs_dim, act_dim, args.hidden), QNet(obs_dim, act_dim, args.hidden)
    q1t.load_state_dict(q1.state_dict())
    q2t.load_state_dict(q2.state_dict())
    q_opt = torch.optim.Adam(list(q1.parameters()) + list(q2.parameters()), lr=1e-3)
    pi_opt = torch.optim.Adam(actor.parameters(), lr=1e-3)
    n = args.warmup + args.steps
    O, A, Rw, O2, D = (np.zeros((n, obs_dim), np.float32), np.zeros((n, act_dim), np.float32), np.zeros(n, np.float32),
                       np.zeros((n, obs_dim), np.float32), np.zeros(n, np.float32))
    o = env.reset()
    t0 = None
    for t in range(n):
        if t == args.warmup:
            t0 = time.perf_counter()
        if t < args.warmup:
            a = rng.uniform(-1, 1, act_dim).astype(np.float32)
        else:
            with torch.no_grad():
                a = actor.sample(torch.as_tensor(o[None]))[0][0].numpy()
        o2, r, trunc = env.step(2.0 * a[0])
        O[t], A[t], Rw[t], O2[t], D[t] = o, a, r, o2, 0.0
        o = env.reset() if trunc else o2
        if t >= args.warmup:
            idx = rng.integers(0, t + 1, args.batch)
            b_o, b_a, b_r, b_o2, b_d = (torch.as_tensor(x[idx]) for x in (O, A, Rw, O2, D))
            with torch.no_grad():
                a2, logp2 = actor.sample(b_o2)
                qn = torch.min(q1t(b_o2, a2), q2t(b_o2, a2)).view(-1) - alpha * logp2
                y = b_r + gamma * (1 - b_d) * qn
            q_loss = F.mse_loss(q1(b_o, b_a).view(-1), y) + F.mse_loss(q2(b_o, b_a).view(-1), y)
            q_opt.zero_grad()
            q_loss.backward()
            q_opt.step()
            a_pi, logp = actor.sample(b_o)
            pi_loss = (alpha * logp - torch.min(q1(b_o, a_pi), q2(b_o, a_pi)).view(-1)).mean()
            pi_opt.zero_grad()
            pi_loss.backward()
            pi_opt.step()
            with torch.no_grad():
                for net, tgt in ((q1, q1t), (q2, q2t)):
                    for p_, pt in zip(net.parameters(), tgt.parameters()):
                        pt.mul_(1 - tau).add_(tau * p_)
    dt = time.perf_counter() - t0
    print(json.dumps({"steps": args.steps, "seconds": dt, "sps": args.steps / dt, "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
