#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Check `vigil host --metrics` text against `vigil stats --json` of the same moment.

usage: prom_check.py METRICS-FILE STATS-JSON-FILE

The metrics are parsed by Prometheus' own Python parser (Debian's
python3-prometheus-client); every SensorCounters, SensorRings, SensorDaemon
and HostCounters number `vigil stats --json` printed must appear with the
same value, and no counter sample may be there that stats does not have.
Prints "compared N values" and exits 0, or prints each difference, exits 1.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1], encoding="utf-8").read()
samples = {}
types = {}
for fam in text_string_to_metric_families(text):
    types[fam.name] = fam.type
    for s in fam.samples:
        key = (s.name, tuple(sorted(s.labels.items())))
        if key in samples:
            print(f"duplicate sample {key}")
            sys.exit(1)
        samples[key] = s.value

want = {}
for line in open(sys.argv[2], encoding="utf-8"):
    r = json.loads(line)
    t = r.get("Table")
    if t == "SensorCounters":
        lab = (("class", r["EventClass"]), ("device", r["DeviceId"]))
        for name, col in (("seen", "Seen"), ("emitted", "Emitted"), ("filtered", "Filtered"),
                          ("deduplicated", "Deduplicated"), ("limited", "RateLimited")):
            want[(f"vigil_events_{name}_total", lab)] = r[col]
        for reason, col in (("ringbuf_full", "RingbufFull"), ("lost", "EventsLost")):
            want[("vigil_events_dropped_total", tuple(sorted(lab + (("reason", reason),))))] = r[col]
    elif t == "SensorRings":
        lab = (("device", r["DeviceId"]), ("ring", r["Ring"]))
        want[("vigil_ring_size_bytes", lab)] = r["SizeBytes"]
        want[("vigil_ring_fill_bytes", lab)] = r["FillBytes"]
        want[("vigil_ring_peak_fill_bytes", lab)] = r["PeakFillBytes"]
    elif t == "SensorDaemon":
        lab = (("device", r["DeviceId"]),)
        want[("vigil_sensor_wakeups_total", lab)] = r["Wakeups"]
        want[("vigil_sensor_records_total", lab)] = r["Records"]
        want[("vigil_sensor_summaries_total", lab)] = r["Summaries"]
    elif t == "SensorQueue":
        lab = (("device", r["DeviceId"]),)
        want[("vigil_sensor_queue_frames", lab)] = r["Frames"]
        want[("vigil_sensor_queue_memory_bytes", lab)] = r["MemBytes"]
        want[("vigil_sensor_spool_bytes", lab)] = r["SpoolBytes"]
    elif t == "HostCounters" and r["Name"] == "RetentionDeleted":
        want[("vigil_retention_deleted_rows_total", (("table", r["Label"]),))] = r["Count"]

bad = 0
for key, v in sorted(want.items()):
    if samples.get(key) != v:
        print(f"{key}: metrics {samples.get(key)}, stats {v}")
        bad += 1
# Every per-class counter the endpoint shows is one stats printed.
for key in samples:
    if key[0].startswith("vigil_events_") and key not in want:
        print(f"{key}: in the metrics only")
        bad += 1
for fam, typ in (("vigil_events_seen", "counter"), ("vigil_ring_fill_bytes", "gauge"),
                 ("vigil_store_batch_seconds", "histogram"), ("vigil_host_batches", "counter")):
    if types.get(fam) != typ:
        print(f"family {fam}: type {types.get(fam)}, want {typ}")
        bad += 1
# The sensor reported each kind of number.
for fam in ("vigil_events_seen_total", "vigil_ring_fill_bytes", "vigil_sensor_records_total",
            "vigil_sensor_queue_frames"):
    if not any(k[0] == fam for k in want):
        print(f"stats has nothing for {fam}")
        bad += 1
if not want or bad:
    print(f"{bad} differences, {len(want)} values from stats")
    sys.exit(1)
print(f"compared {len(want)} values")
