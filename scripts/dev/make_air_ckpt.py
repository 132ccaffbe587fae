"""Development only: a synthetic checkpoint with GLM-4.5-Air's real shapes
(hidden 4096, 96 heads x 128, 8 KV heads, 128 experts of 1408, one shared
expert, first layer dense 10944, vocab 151552) and N decoder layers, random
BF16 weights (sigma 0.02, norms 1), for the streaming runs on the GPU
machine (docs/cuda-notes.md).  Usage: make_air_ckpt.py N OUTDIR [CONFIG [OVERRIDES]]
(CONFIG: a name of share/models/meta, default GLM-4.5-Air; GLM-4.6 gives
its shapes: hidden 5120, 160 experts of 1536, 3 dense layers first;
OVERRIDES, a fifth argument: JSON config fields to replace, for a smaller
model of the same structure)"""
import json, os, struct, sys

try:
    import torch
    from safetensors.torch import save_file
except ImportError:     # the dev machine: numpy only (same names and shapes, another generator)
    torch = None
    import numpy as np

n_layers, out = int(sys.argv[1]), sys.argv[2]
meta = sys.argv[3] if len(sys.argv) > 3 else "GLM-4.5-Air"
os.makedirs(out, exist_ok=True)
cfg = json.load(open(os.path.join(os.path.dirname(__file__), f"../../share/models/meta/{meta}.config.json")))
if len(sys.argv) > 4:   # JSON overrides of the config (a smaller model of the same structure)
    cfg.update(json.loads(sys.argv[4]))
cfg["num_hidden_layers"] = n_layers
cfg["num_nextn_predict_layers"] = 0
json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=1)
H, I, MI, E, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["moe_intermediate_size"], cfg["n_routed_experts"], cfg["vocab_size"]
q, kv = cfg["num_attention_heads"] * cfg["head_dim"], cfg["num_key_value_heads"] * cfg["head_dim"]
if torch is not None:
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator(device=dev).manual_seed(0)

    def rnd(*shape):
        return (torch.randn(*shape, device=dev, generator=g) * 0.02).to(torch.bfloat16).cpu()

    def ones(n):
        return torch.ones(n, dtype=torch.bfloat16)

    def zeros32(n):
        return torch.zeros(n, dtype=torch.float32)
else:
    rng = np.random.default_rng(0)

    class Arr:              # raw little-endian bytes with a safetensors dtype
        def __init__(self, dt, shape, data):
            self.dt, self.shape, self.data = dt, list(shape), data

    def rnd(*shape):        # float32 -> BF16 by dropping the low half (random data: the bias does not matter)
        x = (rng.standard_normal(int(np.prod(shape)), dtype=np.float32) * 0.02).view(np.uint32) >> 16
        return Arr("BF16", shape, x.astype("<u2").tobytes())

    def ones(n):
        return Arr("BF16", [n], np.full(n, 0x3F80, dtype="<u2").tobytes())

    def zeros32(n):
        return Arr("F32", [n], bytes(4 * n))

    def save_file(tensors, path):
        hdr, off = {}, 0
        for k, a in tensors.items():
            hdr[k] = {"dtype": a.dt, "shape": a.shape, "data_offsets": [off, off + len(a.data)]}
            off += len(a.data)
        h = json.dumps(hdr).encode()
        h += b" " * (-len(h) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h)
            for a in tensors.values():
                f.write(a.data)


wmap = {}


def shard(name, tensors):
    save_file(tensors, os.path.join(out, name))
    for k in tensors:
        wmap[k] = name


shard("embed.safetensors", {"model.embed_tokens.weight": rnd(V, H)})
for l in range(n_layers):
    p = f"model.layers.{l}."
    t = {p + "input_layernorm.weight": ones(H),
         p + "post_attention_layernorm.weight": ones(H),
         p + "self_attn.q_proj.weight": rnd(q, H), p + "self_attn.q_proj.bias": rnd(q),
         p + "self_attn.k_proj.weight": rnd(kv, H), p + "self_attn.k_proj.bias": rnd(kv),
         p + "self_attn.v_proj.weight": rnd(kv, H), p + "self_attn.v_proj.bias": rnd(kv),
         p + "self_attn.o_proj.weight": rnd(H, q)}
    if cfg.get("use_qk_norm"):
        t[p + "self_attn.q_norm.weight"] = ones(cfg["head_dim"])
        t[p + "self_attn.k_norm.weight"] = ones(cfg["head_dim"])
    if l < cfg["first_k_dense_replace"]:
        t.update({p + "mlp.gate_proj.weight": rnd(I, H), p + "mlp.up_proj.weight": rnd(I, H),
                  p + "mlp.down_proj.weight": rnd(H, I)})
    else:
        t[p + "mlp.gate.weight"] = rnd(E, H)
        t[p + "mlp.gate.e_score_correction_bias"] = zeros32(E)
        for e in range(E):
            t[p + f"mlp.experts.{e}.gate_proj.weight"] = rnd(MI, H)
            t[p + f"mlp.experts.{e}.up_proj.weight"] = rnd(MI, H)
            t[p + f"mlp.experts.{e}.down_proj.weight"] = rnd(H, MI)
        t[p + "mlp.shared_experts.gate_proj.weight"] = rnd(MI, H)
        t[p + "mlp.shared_experts.up_proj.weight"] = rnd(MI, H)
        t[p + "mlp.shared_experts.down_proj.weight"] = rnd(H, MI)
    shard(f"layer-{l:03d}.safetensors", t)
    print("layer", l, flush=True)
shard("head.safetensors", {"model.norm.weight": ones(H), "lm_head.weight": rnd(V, H)})
json.dump({"metadata": {}, "weight_map": wmap}, open(os.path.join(out, "model.safetensors.index.json"), "w"))
