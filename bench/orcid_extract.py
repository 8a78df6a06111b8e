"""Bench: stream affiliations out of a synthetic ORCID public data file.

Not a test. Writes a synthetic summaries tarball (default 200,000 records) into a
temporary directory, then reads it with
:func:`tasks.sources.orcid.iter_affiliations_from_tarball` in a fresh process, so the
peak RSS printed is the extractor's alone. Prints records/s and peak RSS; with the source
mirror present (``TALENTFLOW_MIRROR`` or ``../shared/data``) it also times the 37 KB
``record-3.0.xml`` sample, parsed in memory, closer in size to a busy real record than the
synthetic ones.

    python bench/orcid_extract.py [--records 200000] [--batch-size 10000] [--workers 1 2]

``--workers`` lists the numbers of parsing processes to time (default 1 and 2); peak RSS
is the main process's (the workers each hold one chunk of records and a parser).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def extract(path: Path, batch_size: int, workers: int = 1) -> dict:
    """Run in the child process: stream the file, return the figures."""
    from talentflow.tasks.sources.orcid import ExtractionSummary, iter_affiliations_from_tarball

    summary = ExtractionSummary(path)
    started = time.perf_counter()
    cpu_started = time.process_time()
    rows = sum(
        frame.height
        for frame in iter_affiliations_from_tarball(
            path, batch_size, summary=summary, workers=workers
        )
    )
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "records": summary.records_read,
        "affiliations": rows,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def plain_parse_rate(path: Path) -> float:
    """The anchor: records/s of a plain loop over the same file in one process: gunzip,
    read each member, ``lxml.etree.fromstring`` it; nothing checked, nothing extracted."""
    import gzip

    from lxml import etree

    from talentflow.tasks.sources.ustar import MemberStream

    started, records = time.perf_counter(), 0
    with path.open("rb") as compressed, gzip.GzipFile(fileobj=compressed) as uncompressed:
        members = MemberStream(uncompressed)
        for member in members:
            if member.isreg() and member.name.endswith(".xml"):
                etree.fromstring(members.read(member))
                records += 1
    return records / (time.perf_counter() - started)


def sample_rate(repeats: int = 2000) -> float | None:
    """Records/s for parse + extract of the real record-3.0.xml sample, read in place."""
    from talentflow.tasks.sources import orcid

    mirror = Path(os.environ.get("TALENTFLOW_MIRROR", REPO.parent / "shared" / "data"))
    sample = mirror / "orcid" / "samples" / "record-3.0.xml"
    if not sample.is_file():
        return None
    data = sample.read_bytes()
    parser = orcid.hardened_xml_parser()
    started = time.process_time()
    for _ in range(repeats):
        orcid._xml_rows(orcid._parse_xml(data, "record-3.0.xml", parser), "record-3.0.xml")
    return repeats / (time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 200,000 records (75 MiB gzip): enough that starting the parsing processes (about
    # 0.5 s) does not hide their rate, as it did at 50,000.
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--extract", type=Path, help=argparse.SUPPRESS)  # child process
    arguments = parser.parse_args()
    if arguments.extract:
        workers = arguments.workers[0]
        print(json.dumps(extract(arguments.extract, arguments.batch_size, workers)))
        return

    sys.path.insert(0, str(REPO))  # the generator is test code (tests/), not in the package
    from tests.synthetic_orcid import write_synthetic_data_file

    with tempfile.TemporaryDirectory(prefix="orcid_synthetic_bench_") as directory:
        path = Path(directory) / "ORCID_synthetic_summaries.tar.gz"
        started = time.perf_counter()
        write_synthetic_data_file(path, arguments.records, seed=0)
        written = time.perf_counter() - started
        runs = {}
        for workers in arguments.workers:
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--extract",
                    str(path),
                    "--batch-size",
                    str(arguments.batch_size),
                    "--workers",
                    str(workers),
                ],
                check=True,
                capture_output=True,
                text=True,
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
            runs[workers] = json.loads(child.stdout.strip().splitlines()[-1])
        size = path.stat().st_size
        plain = plain_parse_rate(path)
    print(
        f"synthetic file: {arguments.records:,} records, {size / 2**20:.1f} MiB gzip, "
        f"written in {written:.1f} s"
    )
    first = runs[arguments.workers[0]]
    for workers, figures in runs.items():
        speedup = first["seconds"] / figures["seconds"]
        print(
            f"extract, {workers} worker(s): {figures['records']:,} records, "
            f"{figures['affiliations']:,} affiliations in {figures['seconds']:.1f} s wall: "
            f"{figures['records'] / figures['seconds']:,.0f} records/s "
            f"({speedup:.2f}x {arguments.workers[0]} worker(s)); main process "
            f"{figures['cpu_seconds']:.1f} s CPU, peak RSS {figures['peak_rss_mib']:.0f} MiB"
        )
    print(f"anchor, a plain lxml parse loop over the same file in one process: {plain:,.0f} rec/s")
    rate = sample_rate()
    if rate is not None:
        print(
            f"record-3.0.xml sample (37 KB), parse + extract in memory: {rate:,.0f} records/s CPU"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPU(s)")


if __name__ == "__main__":
    main()
