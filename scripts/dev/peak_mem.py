"""Development only (issue 13 point 1): runs a command and samples its
anonymous resident memory (RssAnon: what the process allocated, not the
mmap'd shard pages, which are page cache the kernel can drop) and its total
RSS every 0.1 s; prints the peaks as one JSON line after the command's own
output.  Usage: peak_mem.py CMD..."""
import json, subprocess, sys, time

p = subprocess.Popen(sys.argv[1:])
peak_anon = peak_rss = 0
t0 = time.time()
while p.poll() is None:
    try:
        st = open("/proc/%d/status" % p.pid).read()
        kv = {l.split(":")[0]: l.split()[1] for l in st.splitlines() if l.startswith(("RssAnon", "VmRSS"))}
        peak_anon = max(peak_anon, int(kv.get("RssAnon", 0)))
        peak_rss = max(peak_rss, int(kv.get("VmRSS", 0)))
    except (OSError, ValueError, IndexError):
        pass
    time.sleep(0.1)
print(json.dumps({"rc": p.returncode, "wall_s": round(time.time() - t0, 1),
                  "peak_anon_gib": round(peak_anon / 2**20, 2), "peak_rss_gib": round(peak_rss / 2**20, 2)}))
