#!/usr/bin/env python3
"""PyTorch side of `npm run bench`: runs the same cases as the JS engines, in a separate process.

Usage: torch_bench.py DIR [--probe]
  DIR/cases.json: {"options": {targetMs, repeats, warmup}, "cases": [{"i", "id", "spec", "inputs": {name: shape}}]}
  DIR/<i>/<name>.bin: float32 inputs written by bench/peers/torch.ts (canonical layouts).
Writes DIR/<i>/out_<name>.bin (outputs, checked by the Node side against its float64 reference)
and DIR/results.json (timings). `--probe` prints version/device JSON and exits.

Timing: warm-up, then R repeats of N back-to-back iterations followed by one synchronisation
(torch.cuda.synchronize on CUDA), divided by N; median/min/max. On CUDA, TF32 is off.
"""
import json
import math
import os
import sys
import time


def probe():
    import torch

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    details = (
        torch.cuda.get_device_name(0)
        if dev == "cuda"
        else f"{os.cpu_count()} threads"
    )
    print(json.dumps({"version": torch.__version__, "device": dev, "details": details}))


def main():
    import torch

    d = sys.argv[1]
    cfg = json.load(open(os.path.join(d, "cases.json")))
    o = cfg["options"]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    if dev == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    else:
        torch.set_num_threads(os.cpu_count() or 1)

    def sync():
        if dev == "cuda":
            torch.cuda.synchronize()

    def load(i, name, shape):
        import numpy as np

        a = np.fromfile(os.path.join(d, str(i), name + ".bin"), dtype=np.float32)
        return torch.from_numpy(a.copy()).reshape(shape).to(dev)

    def save(i, name, t):
        t.detach().float().contiguous().cpu().numpy().tofile(os.path.join(d, str(i), "out_" + name + ".bin"))

    def time_it(step, each_sync=False):
        target = o["targetMs"] / 1000.0
        iters, est = 1, float("inf")
        for _ in range(o["warmup"]):
            t0 = time.perf_counter()
            for _ in range(iters):
                step()
                if each_sync:
                    sync()
            sync()
            est = (time.perf_counter() - t0) / iters
            if est * iters < target / 4:
                iters = min(4096, iters * 4)
        iters = max(1, min(o.get("maxIters", 4096), round(target / max(est, 1e-6))))
        samples = []
        for _ in range(o["repeats"]):
            t0 = time.perf_counter()
            for _ in range(iters):
                step()
                if each_sync:
                    sync()
            sync()
            samples.append((time.perf_counter() - t0) / iters * 1000.0)
        s = sorted(samples)
        n = len(s)
        med = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
        return {"median": med, "min": s[0], "max": s[-1], "repeats": n, "iters": iters}

    results = []
    for c in cfg["cases"]:
        i, spec = c["i"], c["spec"]
        shapes = c["inputs"]
        inp = {k: load(i, k, v) for k, v in shapes.items()}
        k = spec["kind"]
        r = {"i": i, "status": "ok"}
        try:
            step, outs_fn, each_sync = build(torch, spec, inp, dev)
            outs = outs_fn()
            for name, t in outs.items():
                save(i, name, t)
            r["wall"] = time_it(step, each_sync)
            if k == "dispatch":
                r["metrics"] = {"usPerOp": r["wall"]["median"] * 1000 / spec["count"]}
        except Exception as e:  # noqa: BLE001 - any failure marks the row, the run goes on
            r["status"] = "failed"
            r["note"] = f"{type(e).__name__}: {e}"[:200]
        results.append(r)
        print(f"torch {dev} {c['id']}: {r.get('wall', {}).get('median', float('nan')):.3f} ms", file=sys.stderr)
    json.dump({"results": results}, open(os.path.join(d, "results.json"), "w"))


def build(torch, s, inp, dev):
    """Returns (step, outputs_for_check, sync_each_iteration)."""
    F = torch.nn.functional
    k = s["kind"]
    if k == "matmul":
        a, b = inp["a"], inp["b"]
        return (lambda: torch.matmul(a, b)), (lambda: {"c": torch.matmul(a, b)}), False
    if k == "conv2d":
        x, w, g = inp["x"], inp["w"], inp["g"]
        conv = lambda xx, ww: F.conv2d(xx, ww, stride=s["stride"], padding=s["pad"])  # noqa: E731
        if not s["backward"]:
            with torch.no_grad():
                return (lambda: conv(x, w)), (lambda: {"y": conv(x, w)}), False
        xr, wr = x.clone().requires_grad_(True), w.clone().requires_grad_(True)

        def grads():
            return torch.autograd.grad((conv(xr, wr) * g).sum(), [xr, wr])

        return grads, (lambda: dict(zip(["dx", "dw"], grads()))), False
    if k == "attention":
        q, kk, v, g = inp["q"], inp["k"], inp["v"], inp["g"]
        scale = 1.0 / math.sqrt(s["d"])
        attn = lambda a, b, c: torch.matmul(torch.softmax(torch.matmul(a, b.transpose(-1, -2)) * scale, -1), c)  # noqa: E731
        if not s["backward"]:
            return (lambda: attn(q, kk, v)), (lambda: {"out": attn(q, kk, v)}), False
        qr, kr, vr = (t.clone().requires_grad_(True) for t in (q, kk, v))

        def grads():
            return torch.autograd.grad((attn(qr, kr, vr) * g).sum(), [qr, kr, vr])

        return grads, (lambda: dict(zip(["dq", "dk", "dv"], grads()))), False
    if k == "linear":
        x, w, b = inp["x"], inp["w"], inp["b"]
        act = {"relu": torch.relu, "tanh": torch.tanh, "none": lambda z: z}[s["act"]]
        f = lambda: act(torch.addmm(b, x, w))  # noqa: E731
        return f, (lambda: {"y": f()}), False
    if k in ("mlp_grad", "hvp_mlp"):
        sizes = s["sizes"]
        L = len(sizes) - 1
        params = [inp["p%d" % i].clone().requires_grad_(True) for i in range(2 * L)]
        x, t = inp["x"], inp["t"]

        def loss(p):
            h = x
            for l in range(L):
                h = torch.addmm(p[2 * l + 1], h, p[2 * l])
                if l < L - 1:
                    h = torch.relu(h)
            return ((h - t) ** 2).sum() / (2 * s["batch"])

        def grads():
            return torch.autograd.grad(loss(params), params)

        return grads, (lambda: {"p%d" % i: gi for i, gi in enumerate(grads())}), False
    if k == "adam":
        n = len(s["sizes"])
        ps = [inp["p%d" % i].clone() for i in range(n)]
        gs = [inp["g%d" % i] for i in range(n)]
        for p, g in zip(ps, gs):
            p.grad = g
        opt = torch.optim.Adam(ps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, foreach=True)

        def step():
            opt.step()

        def first():
            opt.step()
            return {"p%d" % i: p.detach().clone() for i, p in enumerate(ps)}

        return step, first, False
    if k == "elementwise":
        a, b = inp["a"], inp["b"]
        f = (lambda: a + b) if s["op"] == "add" else (lambda: torch.tanh(a * b + a))
        return f, (lambda: {"y": f()}), False
    if k == "reduce":
        x = inp["x"]
        f = (lambda: x.sum().reshape(1)) if s["op"] == "sum_all" else (lambda: x.sum(1))
        return f, (lambda: {"y": f()}), False
    if k == "roundtrip":
        x = torch.ones(1, device=dev)
        return (lambda: (x + 1).cpu()), (lambda: {}), True
    if k == "dispatch":
        x = torch.ones(s["n"], device=dev)

        def chain():
            y = x + 1
            for _ in range(s["count"] - 1):
                y = y + 1
            return y

        return chain, (lambda: {}), False
    raise NotImplementedError(k)


if __name__ == "__main__":
    if "--probe" in sys.argv:
        probe()
    else:
        main()
