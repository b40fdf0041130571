"""What the offline geocoder costs: table read time, resident memory, and lookup time.

    .venv/bin/python -m bench.geocoding [--lookups 100000]

Runs in a fresh process (the tables are read at most once per process), reads the ZIP table, then
the city table, measuring each, and times lookups that hit a ZIP, fall back to a city, and miss.
Writes bench/out/geocoding.json (--record: bench/results/, the recorded figures).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

from app.domain.locations import Address
from app.services.geocoding import Geocoder
from bench.harness import add_output_flags, rss_mb, write_result


CASES = {
    "zip_hit": Address(line1="1 Beacon St", city="Boston", postal_code="02108-1234", region="MA"),
    "us_city_fallback": Address(line1="1 Main St", city="Springfield", postal_code="00000", region="MA"),
    "non_us_city": Address(line1="1 Domkloster", city="Köln", postal_code="50667", country="DE"),
    "miss": Address(line1="1 Main St", city="Nowhereville", postal_code="00000", region="NY"),
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lookups", type=int, default=100_000, help="lookups timed per case")
    add_output_flags(parser)
    args = parser.parse_args()
    pid = os.getpid()
    geocoder = Geocoder()
    result: dict[str, object] = {"rss_before_mb": round(rss_mb(pid), 1)}
    for table, first in (("zip_table", CASES["zip_hit"]), ("city_table", CASES["non_us_city"])):
        before = rss_mb(pid)
        started = time.perf_counter()
        geocoder.locate(first)
        result[table] = {
            "read_s": round(time.perf_counter() - started, 2),
            "rss_added_mb": round(rss_mb(pid) - before, 1),
            "peak_rss_mb": round(_peak_mb(), 1),
        }
    lookups: dict[str, float] = {}
    for name, address in CASES.items():
        started = time.perf_counter()
        for _ in range(args.lookups):
            geocoder.locate(address)
        lookups[name] = round((time.perf_counter() - started) / args.lookups * 1e6, 2)
    result["lookup_us"] = lookups
    result["rss_after_mb"] = round(rss_mb(pid), 1)
    write_result("geocoding", args, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
