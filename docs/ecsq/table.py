"""Summarizes `ecq eval --json` output (docs/ecsq/*.jsonl) into the markdown tables of docs/ecsq.md."""
import glob
import json
import statistics as st
import sys

FORMATS = ["q3g64", "q3g64+rans", "q3g128+rans", "q4g64", "q4g64+rans", "q4g128+rans", "ecsq2.5", "ecsq3",
           "ecsq3-noout", "ecsq3.5", "ecsq3.5-noout", "ecsq4", "ecsq@q4g64"]
for f in sys.argv[1:] or sorted(glob.glob("docs/ecsq/*.jsonl")):
    rows = [json.loads(line) for line in open(f)]
    by = {}
    for r in rows:
        by.setdefault(r["format"], []).append(r)
    n = len({r["tensor"] for r in rows})
    print(f"\n**{f.split('/')[-1][:-6]}** ({n} tensors; medians over tensors)\n")
    print("| format | bits/weight | SQNR (dB) |\n|---|---|---|")
    for fm in FORMATS:
        if fm in by:
            b = st.median(r["bits_per_weight"] for r in by[fm])
            s = st.median(r["sqnr_db"] for r in by[fm])
            print(f"| {fm} | {b:.3f} | {s:.2f} |")
