"""Development only (issue 14 point 5): how long the engine daemon takes to
answer the previews the TUI asks for one screen of rows, on the backend
the daemon was started with.  Talks the protocol over the session's socket
(docs/protocol.md) as the TUI does: open MODEL, then for SCREENS screens
one preview request of ROWS (tensor, scheme) pairs each (a layer's routed
experts' gate/up/down, the rows a screen of the expanded tree shows), first
int4-g128-sym, then the same rows again at fp8-ch (a scheme change).
Prints one JSON line.  Usage: preview_latency.py SESSION MODEL LAYER [ROWS] [SCREENS]"""
import json, os, socket, sys, time

sess, model, layer = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = int(sys.argv[4]) if len(sys.argv) > 4 else 42
screens = int(sys.argv[5]) if len(sys.argv) > 5 else 3
s = socket.socket(socket.AF_UNIX)
s.connect(os.path.join(os.environ["XDG_RUNTIME_DIR"], "qtune", sess + ".sock"))
f = s.makefile("rw")
nid = 0


def call(req):
    global nid
    nid += 1
    req["id"] = nid
    t0 = time.perf_counter()
    f.write(json.dumps(req) + "\n")
    f.flush()
    while True:
        m = json.loads(f.readline())
        if m.get("id") == nid:
            if not m.get("ok"):
                sys.exit("%s: %s" % (req["op"], m.get("error")))
            return m["result"], (time.perf_counter() - t0) * 1e3


hello, _ = call({"op": "hello", "version": 1})
_, t_open = call({"op": "open", "model": os.path.abspath(model)})
out = {"device": hello.get("device"), "open_ms": t_open, "rows": rows, "screens": []}
for sc in range(screens):
    names = []
    e = sc * (rows // 3)
    while len(names) < rows:
        for pr in ("gate_proj", "up_proj", "down_proj"):
            names.append("model.layers.%d.mlp.experts.%d.%s.weight" % (layer, e, pr))
        e += 1
    names = names[:rows]
    one = {}
    for scheme in ("int4-g128-sym", "fp8-ch"):
        r, ms = call({"op": "preview", "pairs": [[n, scheme] for n in names]})
        assert len(r["results"]) == rows and not any(x.get("cached") for x in r["results"]), r["results"][0]
        assert not any("error" in x for x in r["results"]), [x for x in r["results"] if "error" in x][:1]
        one[scheme + "_ms"] = ms
    out["screens"].append(one)
print(json.dumps(out))
