"""Development only (issue 13 point 9): loads checkpoints qtune wrote with
the calibrated algorithms in Hugging Face transformers (compressed-tensors
decompresses them on load: CompressedTensorsConfig(run_compressed=False)),
evaluates KL(base || quant) on eval.txt with the protocol of
tests/refs/eval_kl.json (consecutive 512-token chunks from the start, 16
chunks, float32, eager attention) and prints it beside the figure `qtune
eval --quantized` gave for the same checkpoint (its --json output).  The
two agree to float summation order only if transformers' decompressed
weights are the ones qtune evaluates.
Usage: hf_check_calibrated.py BASE EVAL_TXT CKPT:QTUNE_EVAL_JSON ..."""
import json, math, sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils.quantization_config import CompressedTensorsConfig

torch.set_grad_enabled(False)
base_dir, text_path = sys.argv[1], sys.argv[2]
tok = AutoTokenizer.from_pretrained(base_dir)
ids = tok(open(text_path).read(), add_special_tokens=False)["input_ids"]
L, N = 512, 16
N = min(N, len(ids) // L)
x = torch.tensor(ids[: N * L]).view(N, L)


def load(d, q):
    kw = {"dtype": torch.float32, "attn_implementation": "eager"}
    if q:
        kw["quantization_config"] = CompressedTensorsConfig(run_compressed=False)
    m = AutoModelForCausalLM.from_pretrained(d, **kw).eval()
    # transformers 5.25 leaves the fused routed experts (gate_up_proj,
    # down_proj) it builds from decompressed modules in bf16 despite
    # dtype=float32, and then computes them in bf16: cast them, so that both
    # forwards are float32 and only the weights can differ
    for p in m.parameters():
        p.data = p.data.float()
    return m


def logp(m):
    return [torch.log_softmax(m(x[i : i + 1]).logits[0].double(), -1) for i in range(N)]


def find_kl(j):
    if isinstance(j, dict):
        for key in ("kld", "kl"):
            if isinstance(j.get(key), dict) and "mean" in j[key]:
                return j[key]["mean"]
        for v in j.values():
            r = find_kl(v)
            if r is not None:
                return r
    return None


lb = logp(load(base_dir, False))
for arg in sys.argv[3:]:
    ck, ev = arg.split(":")
    m = load(ck, True)
    qcfg = json.load(open(ck + "/config.json"))["quantization_config"]
    lq = logp(m)
    kl = torch.cat([(lb[i].exp() * (lb[i] - lq[i])).sum(-1) for i in range(N)])
    qt = find_kl(json.load(open(ev)))
    print(json.dumps({"checkpoint": ck, "format": qcfg.get("format"), "hf_kl_mean": kl.mean().item(),
                      "qtune_kl_mean": qt, "rel_diff": abs(kl.mean().item() - qt) / qt if qt else None,
                      "positions": kl.numel()}), flush=True)
