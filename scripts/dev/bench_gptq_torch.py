"""Baseline for `qtune bench gptq`: a plain PyTorch GPTQ (llm-compressor's
algorithm: Hessian from the routed rows, dampening 0.01, chol(H^-1) upper,
lazy blocks of 128 columns) batched over the 160 experts of one
GLM-4.6-shaped MoE layer (gate/up 1536 x 5120, down 5120 x 1536, 50k tokens
routed top-8 with the same skew as the qtune benchmark), W4 group 128 sym,
float32, on the same GPU.  Development tool only.  Prints JSON."""
import json, sys, time

import torch

E, H, I, NTOK, TOPK, G, BS = 160, 5120, 1536, 50000, 8, 128, 128
dev = "cuda"
torch.manual_seed(0)
w = [1.0 / (1.0 + e / 16.0) for e in range(E)]
slots = NTOK * TOPK
cnt = [int(slots * x / sum(w)) for x in w]
cnt[0] += slots - sum(cnt)


def scales(W):  # (E, rows, cols) -> (E, rows, cols/G) sym int4 scales, bf16-rounded
    g = W.view(W.shape[0], W.shape[1], -1, G)
    amax = torch.maximum(-g.amin(-1).clamp(max=0), g.amax(-1).clamp(min=0))
    s = (amax / 7.5).to(torch.bfloat16).float()
    return torch.where(s == 0, torch.full_like(s, 2.0 ** -7), s)


def gptq(W, Hs, U=None):
    """W (E, rows, cols) float32 in place; Hs (E, cols, cols) or U given."""
    E_, rows, cols = W.shape
    if U is None:
        diag = torch.diagonal(Hs, dim1=1, dim2=2)
        dead = diag == 0
        diag[dead] = 1
        W[dead.unsqueeze(1).expand_as(W)] = 0
        damp = 0.01 * diag.mean(1)
        diag += damp.unsqueeze(1)
        L = torch.linalg.cholesky(Hs)
        Hinv = torch.cholesky_inverse(L)
        U = torch.linalg.cholesky(Hinv, upper=True)
        del L, Hinv
    S = scales(W)
    for i1 in range(0, cols, BS):
        i2 = min(i1 + BS, cols)
        W1 = W[:, :, i1:i2].clone()
        Err1 = torch.zeros_like(W1)
        U1 = U[:, i1:i2, i1:i2]
        for i in range(i2 - i1):
            wcol = W1[:, :, i]
            d = U1[:, i, i].unsqueeze(1)
            s = S[:, :, (i1 + i) // G]
            q = torch.clamp(torch.round(wcol / s), -8, 7) * s
            q = q.to(torch.bfloat16).float()
            err = (wcol - q) / d
            W1[:, :, i:] -= err.unsqueeze(2) * U1[:, i, i:].unsqueeze(1)
            W1[:, :, i] = q
            Err1[:, :, i] = err
        W[:, :, i1:i2] = W1
        if i2 < cols:
            W[:, :, i2:] -= torch.bmm(Err1, U[:, i1:i2, i2:])
    return U


Xi = torch.randn(slots, H, device=dev).bfloat16().float()
Xm = (0.5 * torch.randn(slots, I, device=dev)).bfloat16().float()
Wg = (0.02 * torch.randn(E, I, H, device=dev)).bfloat16().float()
Wu = (0.02 * torch.randn(E, I, H, device=dev)).bfloat16().float()
Wd = (0.02 * torch.randn(E, H, I, device=dev)).bfloat16().float()
torch.cuda.synchronize()
t0 = time.perf_counter()
Hi = torch.empty(E, H, H, device=dev)
Hm = torch.empty(E, I, I, device=dev)
o = 0
for e in range(E):
    x = Xi[o:o + cnt[e]]
    torch.mm(x.t(), x, out=Hi[e])
    x = Xm[o:o + cnt[e]]
    torch.mm(x.t(), x, out=Hm[e])
    o += cnt[e]
torch.cuda.synchronize()
t1 = time.perf_counter()
U = gptq(Wg, Hi)
gptq(Wu, None, U)
del U, Hi
torch.cuda.synchronize()
t2 = time.perf_counter()
gptq(Wd, Hm)
torch.cuda.synchronize()
t3 = time.perf_counter()
print(json.dumps({"torch_gptq_layer_s": t3 - t0, "hessian_s": t1 - t0, "gate_up_s": t2 - t1, "down_s": t3 - t2,
                  "peak_gib": torch.cuda.max_memory_allocated() / 2 ** 30, "torch": torch.__version__}))
