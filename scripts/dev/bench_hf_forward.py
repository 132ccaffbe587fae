"""Baseline for `qtune bench forward` on a GPU: transformers' eager
Glm4MoeForCausalLM on the same checkpoint, batch and tokens (4 x 512,
token i = (i*7919 + 13) % vocab), bf16 and fp32, CUDA-synchronized wall
time, median of 5 after 2 warm-ups.  Development tool only (never run by
the tests).  Usage: python3 bench_hf_forward.py MODEL_DIR"""
import json, os, statistics, sys, time

import torch
from transformers import AutoModelForCausalLM

path = sys.argv[1]
nseq, seq = 4, 512
out = {}
dts = {"bf16": torch.bfloat16, "fp32": torch.float32}
for name in os.environ.get("HF_DTYPES", "bf16,fp32").split(","):
    dt = dts[name]
    m = AutoModelForCausalLM.from_pretrained(path, dtype=dt, attn_implementation="eager").cuda().eval()
    V = m.config.vocab_size
    ids = torch.tensor([(i * 7919 + 13) % V for i in range(nseq * seq)], dtype=torch.long).view(nseq, seq).cuda()
    ts = []
    with torch.no_grad():
        for r in range(7):
            torch.cuda.synchronize()
            t = time.perf_counter()
            m(input_ids=ids, use_cache=False)
            torch.cuda.synchronize()
            if r >= 2:
                ts.append(time.perf_counter() - t)
    med = statistics.median(ts)
    out[name] = {"forward_ms": med * 1e3, "tokens_per_s": nseq * seq / med}
    del m
    torch.cuda.empty_cache()
out["torch"] = torch.__version__
import transformers
out["transformers"] = transformers.__version__
print(json.dumps(out))
