#!/usr/bin/env python3
"""REPORT.md (Markdown, stdout) from bench/media/transcode.sh's summary.tsv.

Usage: report.py SUMMARY_TSV SECS PAYLOADS_TXT
(rerunnable on an existing results folder).
"""
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
secs = int(sys.argv[2])
names = {"c": "C relay, PCMU (reference)", "pcmu-pcmu": "PCMU<->PCMU passthrough",
         "pcmu-pcma": "PCMU<->PCMA transcoding", "pcmu-opus": "PCMU<->Opus transcoding",
         "pcmu-pcmu+rec": "PCMU<->PCMU passthrough, every call recorded",
         "pcmu-pcma+rec": "PCMU<->PCMA transcoding, every call recorded"}


def buffered(case):
    """Transcoding cases play through the relay's jitter buffer (40 ms and
    up by design, plus up to a 20 ms tick)."""
    return case.removesuffix("+rec") not in ("c", "pcmu-pcmu", "pcma-pcma")


def saturated(r):
    """Loss, or packets queueing in the relay (p99 one-way > 20 ms, a whole
    packet time, beyond the jitter buffer's 60 ms where there is one): the
    core is full and the per-call cost is not one a deployment could run at."""
    loss = max(float(r["loss_ab_pct"]), float(r["loss_ba_pct"]))
    p99 = max(int(r["lat_ab_p99_us"] or 0), int(r["lat_ba_p99_us"] or 0))
    return loss >= 0.1 or p99 > 20000 + (60000 if buffered(r["case"]) else 0)


print("## Concurrent calls on one core: passthrough vs transcoding (bench/media/transcode.sh)\n")
print(f"{secs} s of RTP per level, 50 packets/s per direction per call (20 ms), real encoded audio. "
      "CPU = the relay's process (all threads; Dialtone = the whole `dialtone serve`) pinned to one core, "
      "over the generator's run. a->b = caller to callee (PCMU into the callee codec), b->a = back. "
      "Latency = one-way, generator -> relay -> generator (transcoding cases include the jitter buffer's 40 ms and up). Idle = Dialtone with the calls up and no media. "
      "Sample in/out = packets Dialtone received from / sent to the two ends per call "
      f"(GET /v1/calls/{{id}}/stats of a sample of calls; {2 * 50 * secs} each without loss). "
      "Audio = the tone each end sent, decoded from what the other end received (call 0). "
      "Other = CPU of processes not started by the step (% of a core): high values mean a disturbed step.\n")
print("| case | calls | packets/s relayed | loss a->b % | loss b->a % | p50/p99 a->b us | p50/p99 b->a us "
      "| idle CPU % | CPU % of core | CPU % per call | us CPU per packet | RSS MB | sample in/out per call | audio | other % | note |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    pps = int(r["received"]) / secs
    note = "saturated (p99 > 20 ms or loss)" if saturated(r) else ""
    print(f"| {names.get(r['case'], r['case'])} | {r['calls']} | {pps:.0f} | {r['loss_ab_pct']} | {r['loss_ba_pct']} | "
          f"{r['lat_ab_p50_us']}/{r['lat_ab_p99_us']} | {r['lat_ba_p50_us']}/{r['lat_ba_p99_us']} | {r['idle_cpu_pct']} | "
          f"{r['cpu_pct_of_core']} | {r['cpu_pct_per_call']} | {r['us_per_pkt']} | {r['rss_mb']} | "
          f"{r['sample_in_per_call']}/{r['sample_out_per_call']} | {r['audio']} | {r['other_cpu_pct']} | {note} |")
print()
by = {(r["case"], r["calls"]): r for r in rows}
for (case, calls), r in sorted(by.items(), key=lambda kv: (kv[0][0], int(kv[0][1]))):
    c = by.get(("c", calls))
    if case != "c" and c and float(c["us_per_pkt"]) > 0:
        print(f"- {calls} calls, {case}: {r['us_per_pkt']} us/packet vs C relay {c['us_per_pkt']} "
              f"= {float(r['us_per_pkt']) / float(c['us_per_pkt']):.2f}x")
for r in rows:
    per_call = float(r["cpu_pct_per_call"])
    if r["case"] != "c" and per_call > 0 and not saturated(r):
        print(f"- {r['case']} at {r['calls']} calls: {per_call:.3f} % of the core per call "
              f"-> about {100 / per_call:.0f} calls per core if that cost held (a linear extrapolation, "
              "not a measured capacity; the per-call cost falls as load grows, the packets of a "
              "wake-up share its cost)")
for (case, calls), r in sorted(by.items()):
    base = by.get((case.removesuffix("+rec"), calls))
    if case.endswith("+rec") and base and not saturated(r) and not saturated(base):
        extra = float(r["cpu_pct_per_call"]) - float(base["cpu_pct_per_call"])
        print(f"- recording at {calls} calls ({base['case']}): {r['cpu_pct_per_call']} vs "
              f"{base['cpu_pct_per_call']} % of the core per call: recording adds {extra:.3f} %")
print("\nPayloads: " + "; ".join(l.strip() for l in open(sys.argv[3]))
      + "; G.711 tones 1000 Hz (caller) / 440 Hz (callee) at -12 dBFS with -40 dBFS noise.")
