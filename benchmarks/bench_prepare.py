"""`babysweep data prepare` on a real corpus: wall time, peak memory, cache reopen time, bytes per token.

    python benchmarks/bench_prepare.py [--corpus ../shared/data/babylm_2023_subset] [--vocab-size 16000]

Targets on 2 cores: whole prepare under 60 s; reopen under 1 s; cache at most 2 bytes per token.
Each step runs in a fresh process, so peak memory (VmHWM) is that step's own.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PREPARE = """
import json, sys, time
from trainables.data.prepared import prepare
t = time.perf_counter()
meta = prepare(sys.argv[1], sys.argv[2], vocab_size=int(sys.argv[3]), log=lambda m: None)
# VmHWM, not ru_maxrss: a subprocess's ru_maxrss starts from its parent's peak
peak_kb = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
print(json.dumps({"wall_s": time.perf_counter() - t, "peak_rss_mb": peak_kb / 1024,
                  "tokens": sum(s["tokens"] for s in meta["splits"].values())}))
"""
REOPEN = """
import json, sys, time
t = time.perf_counter()
from trainables.data.prepared import open_prepared
imported = time.perf_counter()
data = open_prepared(sys.argv[1])
arrays = {s: data.tokens(s) for s in data.splits}
total = sum(int(a[-1]) for a in arrays.values())  # touch each array
done = time.perf_counter()
print(json.dumps({"reopen_s": done - imported, "import_s": imported - t}))
"""


def run(code, *args):
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--corpus", default=str(REPO.parent / "shared" / "data" / "babylm_2023_subset"))
    p.add_argument("--vocab-size", type=int, default=16_000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "prepared"
        prep = run(PREPARE, args.corpus, out, args.vocab_size)
        reopen = min((run(REOPEN, out) for _ in range(3)), key=lambda r: r["reopen_s"])
        cache_bytes = sum(f.stat().st_size for f in (out / "tokens").iterdir())
    print(f"corpus: {args.corpus}  vocabulary: {args.vocab_size:,}")
    print(f"prepare (split + tokenizer training + caching): {prep['wall_s']:.1f} s wall, "
          f"peak memory {prep['peak_rss_mb']:.0f} MB   [target < 60 s]")
    print(f"reopen the cache (meta check, tokenizer hash, memory-map 3 splits): {reopen['reopen_s'] * 1000:.0f} ms "
          f"(+ {reopen['import_s']:.2f} s of Python imports)   [target < 1 s]")
    print(f"cache size: {cache_bytes:,} bytes for {prep['tokens']:,} tokens = {cache_bytes / prep['tokens']:.3f} bytes/token"
          f"   [target <= 2]")


if __name__ == "__main__":
    main()
