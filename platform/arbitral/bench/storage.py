"""``arbitral bench storage``: stream a large file into each object store.

A file of random bytes is written to a temporary directory and hashed with the
real ``sha256sum``. Each scenario then runs in a child process of its own, so its
peak resident set is its own: the baseline reads the file in 1 MiB chunks and
hashes it (no store); the other scenarios stream it into the local directory
store and into an S3 store (the ``--s3-url`` endpoint, or a moto server started
for the run). For each: seconds, MiB/s, RSS before, peak RSS, the growth of the
peak, and whether the store's SHA-256 equals ``sha256sum``'s. The command fails
when a digest differs or a peak grows by 64 MiB or more.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click

CHUNK = 1 << 20
LIMIT_MIB = 64.0
BUCKET = "arbitral-bench"
NAMESPACE = "bench"
SCENARIOS = ("baseline", "local", "s3")
LABELS = {
    "baseline": "baseline: read + sha256",
    "local": "local store put",
    "s3": "s3 store put",
}


@dataclass
class Result:
    scenario: str
    label: str
    seconds: float
    mib_per_s: float
    rss_before_mib: float
    peak_rss_mib: float
    peak_delta_mib: float
    peak_reset: bool
    sha256: str
    sha256_match: bool
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.sha256_match and self.peak_delta_mib < LIMIT_MIB


@click.command("storage")
@click.option(
    "--size-mib",
    type=click.IntRange(min=1),
    default=1024,
    show_default=True,
    help="Size of the object to stream, in MiB.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option(
    "--s3-url",
    metavar="URL",
    default=None,
    help="An S3 storage URL (s3://bucket?endpoint_url=...). "
    "Default: a moto S3 server started for the run (needs the dev extras).",
)
def command(size_mib: int, as_json: bool, s3_url: str | None) -> None:
    """Stream SIZE MiB into the local and S3 stores; time, peak memory, SHA-256."""
    from arbitral.settings import ConfigError, parse_storage_url

    if s3_url is not None:
        try:
            config = parse_storage_url("--s3-url", s3_url)
        except ConfigError as exc:
            raise click.BadParameter(exc.problem, param_hint="--s3-url") from None
        if config.kind != "s3":
            raise click.BadParameter("must be an s3:// URL", param_hint="--s3-url")

    with tempfile.TemporaryDirectory(prefix="arbitral-bench-") as tmp, _s3_target(s3_url) as s3:
        s3_storage_url, s3_endpoint = s3
        work = Path(tmp)
        source = work / "source.bin"
        _progress(f"writing {size_mib} MiB of random bytes to {source}")
        _write_random(source, size_mib)
        _progress("sha256sum …")
        expected = _sha256sum(source)
        results: list[Result] = []
        for scenario in SCENARIOS:
            _progress(f"running {LABELS[scenario]} in a child process …")
            target = {"local": str(work / "objects"), "s3": s3_storage_url}.get(scenario, "")
            results.append(_run_child(scenario, source, target, size_mib, expected))

    ok = all(r.ok for r in results)
    if as_json:
        document = {
            "benchmark": "storage",
            "size_mib": size_mib,
            "sha256sum": expected,
            "s3_endpoint": s3_endpoint,
            "limit_mib": LIMIT_MIB,
            "ok": ok,
            "scenarios": [asdict(r) | {"ok": r.ok} for r in results],
        }
        click.echo(json.dumps(document, indent=2))
    else:
        _print_table(results, size_mib, expected, s3_endpoint)
    if not ok:
        sys.exit(1)


# -- parent side -------------------------------------------------------------------------


def _progress(message: str) -> None:
    click.echo(f"· {message}", err=True)


@contextlib.contextmanager
def _s3_target(s3_url: str | None) -> Iterator[tuple[str, str]]:
    """``(storage URL, endpoint description)``: the given one, or a moto server's."""
    if s3_url is not None:
        from arbitral.settings import parse_storage_url

        config = parse_storage_url("--s3-url", s3_url)
        yield s3_url, config.endpoint_url or "AWS S3"
        return
    from arbitral.bench._moto import MotoServer, MotoUnavailable

    _progress("starting a moto S3 server (no --s3-url given)")
    server = MotoServer()
    try:
        server.start()
    except MotoUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    try:
        server.create_bucket(BUCKET)
        yield server.storage_url(BUCKET), f"moto {server.endpoint_url}"
    finally:
        server.stop()


def _write_random(path: Path, size_mib: int) -> None:
    with path.open("wb") as handle:
        for _ in range(size_mib):
            handle.write(os.urandom(CHUNK))
        handle.flush()
        os.fsync(handle.fileno())


def _sha256sum(path: Path) -> str:
    program = shutil.which("sha256sum")
    if program is None:
        raise click.ClickException("sha256sum (GNU coreutils) is not installed")
    done = subprocess.run(  # noqa: S603 (fixed argv)
        [program, str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise click.ClickException(f"sha256sum failed: {done.stderr.strip()}")
    return done.stdout.split()[0]


def _child_env() -> dict[str, str]:
    import arbitral

    package_parent = str(Path(arbitral.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    return env


def _run_child(scenario: str, source: Path, target: str, size_mib: int, expected: str) -> Result:
    done = subprocess.run(  # noqa: S603 (our interpreter, fixed module)
        [sys.executable, "-m", "arbitral.bench.storage", scenario, str(source), target],
        capture_output=True,
        text=True,
        env=_child_env(),
        check=False,
    )
    label = LABELS[scenario]
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        return Result(scenario, label, 0, 0, 0, 0, 0, False, "", False, f"failed: {reason}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    seconds = float(figures["seconds"])
    rss_before = figures["rss_before_kib"] / 1024
    peak = figures["peak_rss_kib"] / 1024
    return Result(
        scenario=scenario,
        label=label,
        seconds=round(seconds, 3),
        mib_per_s=round(size_mib / seconds, 1) if seconds > 0 else 0.0,
        rss_before_mib=round(rss_before, 1),
        peak_rss_mib=round(peak, 1),
        peak_delta_mib=round(peak - rss_before, 1),
        peak_reset=bool(figures["peak_reset"]),
        sha256=str(figures["sha256"]),
        # Both the digest computed while streaming and the bytes read back from the store.
        sha256_match=figures["sha256"] == expected
        and figures.get("stored_sha256", expected) == expected,
        detail=str(figures.get("detail", "")),
    )


def _print_table(results: list[Result], size_mib: int, expected: str, s3_endpoint: str) -> None:
    baseline = next((r for r in results if r.scenario == "baseline" and r.seconds > 0), None)
    click.echo(f"arbitral bench storage: {size_mib} MiB of random bytes, streamed in 1 MiB chunks")
    click.echo(f"sha256sum: {expected}")
    click.echo(f"s3 endpoint: {s3_endpoint}")
    click.echo("")
    header = (
        f"{'scenario':<26}{'seconds':>9}{'MiB/s':>9}{'vs base':>9}"
        f"{'RSS before':>12}{'peak RSS':>10}{'peak Δ':>9}  sha256 = sha256sum"
    )
    click.echo(header)
    click.echo("-" * len(header))
    for r in results:
        if r.detail.startswith("failed"):
            click.echo(f"{r.label:<26}{r.detail}")
            continue
        ratio = f"{r.seconds / baseline.seconds:.1f}x" if baseline and r is not baseline else "1.0x"
        click.echo(
            f"{r.label:<26}{r.seconds:>9.2f}{r.mib_per_s:>9.1f}{ratio:>9}"
            f"{r.rss_before_mib:>8.1f} MiB{r.peak_rss_mib:>6.1f} MiB{r.peak_delta_mib:>5.1f} MiB"
            f"  {'yes' if r.sha256_match else 'NO'}"
        )
    click.echo("")
    if not all(r.peak_reset for r in results if not r.detail.startswith("failed")):
        click.echo("note: the peak could not be reset (/proc/self/clear_refs): it includes startup")
    for r in results:
        if r.detail and not r.detail.startswith("failed"):
            click.echo(f"{r.scenario}: {r.detail}")
    verdict = "ok" if all(r.ok for r in results) else "FAILED"
    click.echo(f"limit: peak Δ < {LIMIT_MIB:.0f} MiB and SHA-256 = sha256sum everywhere: {verdict}")


# -- child side ----------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    try:
        with open(f"/proc/{os.getpid()}/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


def _reset_peak() -> bool:
    try:
        Path(f"/proc/{os.getpid()}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


Readback = Callable[[], str] | None
Measured = Callable[[], tuple[str, str, Readback]]
"""The measured part of a scenario: returns (sha256, detail, readback), where
``readback`` (run after the measurement) hashes the bytes the store now holds."""


def _baseline(source: Path, _target: str) -> Measured:
    def run() -> tuple[str, str, Readback]:
        digest = hashlib.sha256()
        with source.open("rb") as handle:
            while data := handle.read(CHUNK):
                digest.update(data)
        return digest.hexdigest(), "", None

    return run


async def _file_chunks(source: Path) -> AsyncIterator[bytes]:
    import anyio.to_thread

    handle = await anyio.to_thread.run_sync(source.open, "rb")
    try:
        while data := await anyio.to_thread.run_sync(handle.read, CHUNK):
            yield data
    finally:
        handle.close()


def _local(source: Path, target: str) -> Measured:
    import anyio

    from arbitral.settings import file_url, parse_storage_url
    from arbitral.storage.interfaces import parse_key
    from arbitral.storage.local import LocalObjectStore

    config = parse_storage_url("bench", file_url(Path(target)))
    store = LocalObjectStore(config, public_url="http://127.0.0.1", secret_key=os.urandom(32))
    found = anyio.run(store.check)

    def run() -> tuple[str, str, Readback]:
        async def put() -> str:
            return (await store.put(NAMESPACE, _file_chunks(source))).key

        key = anyio.run(put)
        return parse_key(key)[1], found, lambda: anyio.run(_read_back, store, key)

    return run


def _s3(source: Path, target: str) -> Measured:
    import anyio
    import anyio.to_thread

    from arbitral.settings import parse_storage_url
    from arbitral.storage.interfaces import parse_key
    from arbitral.storage.s3 import S3ObjectStore

    store = S3ObjectStore(parse_storage_url("--s3-url", target))
    found = anyio.run(store.check)  # fails fast, and loads the client before measuring

    def run() -> tuple[str, str, Readback]:
        async def put() -> str:
            return (await store.put(NAMESPACE, _file_chunks(source))).key

        key = anyio.run(put)

        async def read_back_and_remove() -> str:
            try:
                return await _read_back(store, key)
            finally:
                # The benchmark's object is of no use: remove it (the store never deletes).
                name = store.name_of(key)
                with contextlib.suppress(Exception):
                    await anyio.to_thread.run_sync(
                        lambda: store.client.delete_object(Bucket=store.bucket, Key=name)
                    )
                await store.close()

        return parse_key(key)[1], found, lambda: anyio.run(read_back_and_remove)

    return run


async def _read_back(store: Any, key: str) -> str:
    """SHA-256 of the bytes the store holds under ``key``, read back through its API."""
    digest = hashlib.sha256()
    async for data in store.open(key):
        digest.update(data)
    return digest.hexdigest()


_CHILDREN: dict[str, Callable[[Path, str], Measured]] = {
    "baseline": _baseline,
    "local": _local,
    "s3": _s3,
}


def _child_main(argv: list[str]) -> int:
    scenario, source, target = argv
    measured = _CHILDREN[scenario](Path(source), target)
    rss_before = _status_kib("VmRSS")
    peak_reset = _reset_peak()
    started = time.perf_counter()
    digest, detail, readback = measured()
    seconds = time.perf_counter() - started
    peak_rss = _status_kib("VmHWM")
    figures = {
        "seconds": seconds,
        "rss_before_kib": rss_before,
        "peak_rss_kib": peak_rss,
        "peak_reset": peak_reset,
        "sha256": digest,
        "detail": detail,
    }
    if readback is not None:
        figures["stored_sha256"] = readback()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
