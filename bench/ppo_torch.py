"""CleanRL-style PPO in PyTorch (CPU, or CUDA where torch has it), for the training-loop speed comparison with rl/ppo.ts.

Same algorithm, networks and hyperparameters as bench/train_speed.ts:
  cartpole       CartPole-v1 (vectorised in numpy, as docs/spec/classic.md), MLP 64-64 tanh
  minatar-dummy  a MinAtar-shaped stand-in env (10x10x4 binary frames, episodes of 100 steps,
                 numpy), the MinAtar reference torso Conv(4->16, 3x3) -> Linear(1024->128)
Prints one JSON line: {"impl": "torch", "case": ..., "device": ..., "steps_per_s": ...}.

--device auto (the default) is CleanRL's choice: CUDA when torch sees a GPU, else the CPU; the
envs stay in numpy on the CPU either way (as CleanRL's gym vector envs do), so on CUDA every env
step moves observations to the GPU and actions back, which is the loop a CUDA user runs.

  python3 bench/ppo_torch.py --case cartpole --num-envs 4 --num-steps 128 --minibatch 128 --epochs 4 --updates 4
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn
from torch.distributions.categorical import Categorical


class CartPoleVec:
    def __init__(self, n, seed):
        self.n, self.rng = n, np.random.default_rng(seed)
        self.s = self.rng.uniform(-0.05, 0.05, (n, 4))
        self.t = np.zeros(n, dtype=np.int64)
        self.obs_shape, self.num_actions = (4,), 2

    def obs(self):
        return self.s.astype(np.float32)

    def step(self, a):
        x, xd, th, thd = self.s.T
        f = np.where(a == 1, 10.0, -10.0)
        c, s = np.cos(th), np.sin(th)
        temp = (f + 0.05 * thd**2 * s) / 1.1
        tha = (9.8 * s - c * temp) / (0.5 * (4 / 3 - 0.1 * c**2 / 1.1))
        xa = temp - 0.05 * tha * c / 1.1
        self.s = np.stack([x + 0.02 * xd, xd + 0.02 * xa, th + 0.02 * thd, thd + 0.02 * tha], 1)
        self.t += 1
        term = (np.abs(self.s[:, 0]) > 2.4) | (np.abs(self.s[:, 2]) > 0.20944)
        trunc = (~term) & (self.t >= 500)
        done = term | trunc
        final = self.s.astype(np.float32).copy()
        k = int(done.sum())
        if k:
            self.s[done] = self.rng.uniform(-0.05, 0.05, (k, 4))
            self.t[done] = 0
        return self.obs(), np.ones(self.n, np.float32), term, trunc, final


class DummyGridVec:
    def __init__(self, n, seed):
        self.n, self.rng = n, np.random.default_rng(seed)
        self.t = np.zeros(n, dtype=np.int64)
        self.obs_shape, self.num_actions = (10, 10, 4), 3

    def obs(self):
        return (self.rng.random((self.n, 10, 10, 4)) < 0.1).astype(np.float32)

    def step(self, a):
        self.t += 1
        term = self.t >= 100
        self.t[term] = 0
        r = (self.rng.random(self.n) < 0.05).astype(np.float32)
        o = self.obs()
        return o, r, term, np.zeros(self.n, bool), o


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    def __init__(self, obs_shape, n_actions):
        super().__init__()
        if len(obs_shape) == 1:
            self.torso = nn.Sequential(layer_init(nn.Linear(obs_shape[0], 64)), nn.Tanh(), layer_init(nn.Linear(64, 64)), nn.Tanh())
            f = 64
        else:
            c = obs_shape[2]
            self.torso = nn.Sequential(layer_init(nn.Conv2d(c, 16, 3)), nn.ReLU(), nn.Flatten(), layer_init(nn.Linear(1024, 128)), nn.ReLU())
            f = 128
        self.image = len(obs_shape) == 3
        self.actor = layer_init(nn.Linear(f, n_actions), std=0.01)
        self.critic = layer_init(nn.Linear(f, 1), std=1)

    def features(self, x):
        if self.image:
            x = x.permute(0, 3, 1, 2)
        return self.torso(x)

    def get_value(self, x):
        return self.critic(self.features(x))

    def get_action_and_value(self, x, action=None):
        h = self.features(x)
        logits = self.actor(h)
        probs = Categorical(logits=logits)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(h)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--case", default="cartpole")
    p.add_argument("--num-envs", type=int, default=4)
    p.add_argument("--num-steps", type=int, default=128)
    p.add_argument("--minibatch", type=int, default=128)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--updates", type=int, default=4)
    p.add_argument("--lr", type=float, default=2.5e-4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto", help="auto (cuda if available, else cpu), cpu, cuda")
    a = p.parse_args()
    if a.device == "auto":
        a.device = "cuda" if torch.cuda.is_available() else "cpu"
    if a.device not in ("cpu", "cuda") or (a.device == "cuda" and not torch.cuda.is_available()):
        p.error(f"--device {a.device}: expected auto, cpu or cuda (cuda needs a GPU torch can see)")
    dev = torch.device(a.device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 as on every other engine here
        torch.backends.cudnn.allow_tf32 = False
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    env = CartPoleVec(a.num_envs, 0) if a.case == "cartpole" else DummyGridVec(a.num_envs, 0)
    agent = Agent(env.obs_shape, env.num_actions).to(dev)
    opt = torch.optim.Adam(agent.parameters(), lr=a.lr, eps=1e-5)
    T, N = a.num_steps, a.num_envs
    B = T * N
    gamma, lam, clip, vf, ent_c, max_norm = 0.99, 0.95, 0.2, 0.5, 0.01, 0.5
    obs_b = torch.zeros((T, N) + env.obs_shape, device=dev)
    act_b, logp_b, rew_b, done_b, val_b = (torch.zeros((T, N), device=dev) for _ in range(5))
    next_obs = torch.tensor(env.obs(), device=dev)
    times = []
    for update in range(a.updates + 1):
        t0 = time.perf_counter()
        frac = 1.0 - update / (a.updates + 1)
        opt.param_groups[0]["lr"] = frac * a.lr
        for t in range(T):
            obs_b[t] = next_obs
            with torch.no_grad():
                action, logp, _, value = agent.get_action_and_value(next_obs)
            val_b[t] = value.flatten()
            act_b[t], logp_b[t] = action, logp
            o, r, term, trunc, final = env.step(action.cpu().numpy())
            r = r.copy()
            if trunc.any():  # bootstrap from the final observation on truncation
                with torch.no_grad():
                    r[trunc] += gamma * agent.get_value(torch.tensor(final[trunc], device=dev)).flatten().cpu().numpy()
            rew_b[t] = torch.tensor(r, device=dev)
            done_b[t] = torch.tensor((term | trunc).astype(np.float32), device=dev)
            next_obs = torch.tensor(o, device=dev)
        with torch.no_grad():
            last = agent.get_value(next_obs).flatten()
            adv = torch.zeros_like(rew_b)
            g = 0
            for t in reversed(range(T)):
                nv = last if t == T - 1 else val_b[t + 1]
                nd = 1.0 - done_b[t]
                delta = rew_b[t] + gamma * nv * nd - val_b[t]
                g = delta + gamma * lam * nd * g
                adv[t] = g
            ret = adv + val_b
        b_obs = obs_b.reshape((-1,) + env.obs_shape)
        b_act, b_logp, b_adv, b_ret, b_val = (x.reshape(-1) for x in (act_b, logp_b, adv, ret, val_b))
        for _ in range(a.epochs):
            perm = torch.tensor(np.random.permutation(B), device=dev)
            for s in range(0, B, a.minibatch):
                mb = perm[s : s + a.minibatch]
                _, newlogp, entropy, newv = agent.get_action_and_value(b_obs[mb], b_act.long()[mb])
                logratio = newlogp - b_logp[mb]
                ratio = logratio.exp()
                mb_adv = (b_adv[mb] - b_adv[mb].mean()) / (b_adv[mb].std() + 1e-8)
                pg = torch.max(-mb_adv * ratio, -mb_adv * torch.clamp(ratio, 1 - clip, 1 + clip)).mean()
                newv = newv.view(-1)
                vu = (newv - b_ret[mb]) ** 2
                vc = b_val[mb] + torch.clamp(newv - b_val[mb], -clip, clip)
                vl = 0.5 * torch.max(vu, (vc - b_ret[mb]) ** 2).mean()
                loss = pg - ent_c * entropy.mean() + vf * vl
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), max_norm)
                opt.step()
        sync()  # CUDA runs the last minibatches asynchronously: the update ends when they do
        if update > 0:  # the first update is warm-up
            times.append(time.perf_counter() - t0)
    sps = B * len(times) / sum(times)
    print(json.dumps({"impl": "torch", "torch": torch.__version__, "case": a.case, "device": a.device, "num_envs": N, "num_steps": T,
                      "minibatch": a.minibatch, "epochs": a.epochs, "steps_per_s": round(sps, 1)}))


if __name__ == "__main__":
    main()
