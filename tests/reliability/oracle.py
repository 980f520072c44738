"""The oracle of the reliability tests (docs/RELIABILITY.md, notes §D.0).

- :func:`produce_input` writes N keyed records with an idempotent ``acks=all`` producer
  and keeps the set S_in of their (partition, offset) from the delivery reports;
- :class:`Processor` runs ``streamprocessor run copy_processor.py:copy`` in its own process
  (its own session, so a signal reaches only it); the handler copies every record to the
  output topic with the header ``src=<partition>:<offset>`` of its input;
- :class:`OutputWatch` samples the output topic's end offsets in a thread: the progress the
  fault points are chosen by, the processing rate the duplicate bound is computed from, and
  recovery times (fault → first new output);
- :func:`verify` reads the output to its end (until the end offsets hold still), and
  computes what is missing, the duplicates, the per-partition order and the group's
  committed offsets, which must equal the input's end offsets.

Every wait is bounded; every failure message says what was seen.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streamprocessor.testing.plugin import STREAM_ENV_PATTERN

HERE = Path(__file__).resolve().parent
PROCESSOR = HERE / "copy_processor.py"

#: the SCRAM login of the secure test broker (its password is random per session)
SCRAM_USER = "processor"
#: the consumer's commit interval in every test (auto-commit of acknowledged positions)
COMMIT_INTERVAL = 1.0
#: the Kafka consumer hands acknowledged positions to librdkafka at least this often
STORE_INTERVAL = 0.5
#: the processor's producer batching delay (PRODUCER_KAFKA_MAX_QUEUE_BUFFER_DURATION)
LINGER = 0.01
#: slack for loopback round trips and scheduling on a busy 2-core machine
SLACK = 0.25
#: the consumer group session timeout of the processor (CONSUMER_KAFKA_SESSION_TIMEOUT)
SESSION_TIMEOUT = 3.0


def random_name(prefix: str) -> str:
    """Return a unique topic or group name."""
    return f"rel-{prefix}-{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------------------------
# Topics and input
# --------------------------------------------------------------------------------------------


def create_topics(
    brokers: str,
    names: Iterable[str],
    partitions: int,
    replication: int = 1,
    config: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> None:
    """Create topics and wait until every partition has a leader and a full ISR."""
    admin = AdminClient({"bootstrap.servers": brokers})
    topics = list(names)
    futures = admin.create_topics(
        [NewTopic(t, partitions, replication, config=dict(config or {})) for t in topics],
        request_timeout=timeout,
    )
    for future in futures.values():
        future.result(timeout=timeout)
    for topic in topics:
        wait_for_isr(brokers, topic, partitions, replication, timeout=timeout)


def create_pair(brokers: str, partitions: int, replication: int = 1) -> tuple[str, str]:
    """Create a fresh input and output topic; return their names.

    The output topic stamps records with the broker's append time, so output timestamps
    say when a copy reached Kafka (recovery and rebalance pauses are read from them).
    """
    src, dst = random_name("in"), random_name("out")
    extra = {"min.insync.replicas": "2"} if replication >= 3 else {}
    create_topics(brokers, [src], partitions, replication, extra)
    stamped = {**extra, "message.timestamp.type": "LogAppendTime"}
    create_topics(brokers, [dst], partitions, replication, stamped)
    return src, dst


def wait_for_isr(
    brokers: str, topic: str, partitions: int, isr: int, timeout: float = 60.0
) -> float:
    """Wait until every partition of ``topic`` has a leader and ``isr`` in-sync replicas.

    Returns the seconds waited.
    """
    admin = AdminClient({"bootstrap.servers": brokers})
    started = time.monotonic()
    deadline = started + timeout
    meta: Any = None
    while True:
        with contextlib.suppress(KafkaException):
            meta = admin.list_topics(topic, timeout=5).topics.get(topic)
            if (
                meta is not None
                and meta.error is None
                and len(meta.partitions) == partitions
                and all(p.leader >= 0 and len(p.isrs) >= isr for p in meta.partitions.values())
            ):
                return time.monotonic() - started
        if time.monotonic() > deadline:
            raise AssertionError(f"{topic}: no leader or ISR {isr} after {timeout:g}s: {meta}")
        time.sleep(0.2)


@dataclass
class InputSet:
    """The input records as the broker acknowledged them (S_in)."""

    topic: str
    partitions: int
    records: set[tuple[int, int]]
    end_offsets: dict[int, int]

    @property
    def n(self) -> int:
        """The number of input records."""
        return len(self.records)


def produce_input(brokers: str, topic: str, n: int, partitions: int) -> InputSet:
    """Write ``n`` records (key = value = sequence number) idempotently; return S_in.

    Fails unless every delivery succeeded and S_in covers 0 … end-1 of every partition.
    """
    producer = Producer(
        {
            "bootstrap.servers": brokers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 60000,
        }
    )
    records: set[tuple[int, int]] = set()
    errors: list[Any] = []

    def report(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)
        else:
            records.add((msg.partition(), msg.offset()))

    for i in range(n):
        seq = str(i).encode()
        while True:
            try:
                producer.produce(topic, seq, seq, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 1000 == 999:
            producer.poll(0)
    left = producer.flush(60)
    assert left == 0 and not errors, f"input: {left} not delivered, errors {errors[:3]}"
    ends = end_offsets(brokers, topic, partitions)
    expected = {(p, o) for p, end in ends.items() for o in range(end)}
    assert records == expected, "input: delivery reports do not cover 0 … end of each partition"
    return InputSet(topic, partitions, records, ends)


def produce_values(brokers: str, topic: str, values: Iterable[bytes]) -> None:
    """Write ``values`` in order (keyless, idempotent); fail unless all were delivered."""
    producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True})
    errors: list[Any] = []
    for value in values:
        producer.produce(topic, value, on_delivery=lambda err, _m: err and errors.append(err))
    assert producer.flush(30) == 0 and not errors, errors


def end_offsets(brokers: str, topic: str, partitions: int) -> dict[int, int]:
    """Return the high watermark of every partition of ``topic``."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": random_name("ends")})
    try:
        return {
            p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
            for p in range(partitions)
        }
    finally:
        c.close()


def committed_offsets(
    brokers: str, group: str, topic: str, partitions: int, timeout: float = 30.0
) -> dict[int, int]:
    """Return the group's committed offsets on ``topic`` (-1001: none), retrying while the
    coordinator moves."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False})
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], 10)
                return {tp.partition: tp.offset for tp in tps}
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        c.close()


# --------------------------------------------------------------------------------------------
# The processor under test
# --------------------------------------------------------------------------------------------


def base_env() -> dict[str, str]:
    """This process's environment without any variable streamprocessor reads."""
    env = {k: v for k, v in os.environ.items() if not STREAM_ENV_PATTERN.match(k)}
    env.pop("DRY_RUN", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def processor_env(
    brokers: str, src: str, dst: str, group: str, rate: float, **extra: str
) -> dict[str, str]:
    """Variables of a Kafka → Kafka copy processor with the test intervals."""
    return {
        **base_env(),
        "CONSUMER_CLIENT_TYPE": "kafka",
        "CONSUMER_KAFKA_BROKERS": brokers,
        "CONSUMER_KAFKA_TOPICS": src,
        "CONSUMER_KAFKA_GROUP_ID": group,
        "CONSUMER_KAFKA_COMMIT_INTERVAL": f"{int(COMMIT_INTERVAL * 1000)}ms",
        "CONSUMER_KAFKA_SESSION_TIMEOUT": f"{int(SESSION_TIMEOUT * 1000)}ms",
        "CONSUMER_KAFKA_HEARTBEAT_INTERVAL": "500ms",
        "PRODUCER_CLIENT_TYPE": "kafka",
        "PRODUCER_KAFKA_BROKERS": brokers,
        "PRODUCER_KAFKA_TOPIC": dst,
        "PRODUCER_KAFKA_MAX_QUEUE_BUFFER_DURATION": f"{int(LINGER * 1000)}ms",
        "RELIABILITY_RATE": str(rate),
        **extra,
    }


class Processor:
    """One ``streamprocessor run`` process; its output goes to a log file."""

    def __init__(
        self,
        name: str,
        env: Mapping[str, str],
        log_dir: Path,
        handler: str = "copy",
        args: Iterable[str] = (),
    ) -> None:
        self.name = name
        self.env = {**env, "RELIABILITY_NAME": name}
        self.log_path = log_dir / f"{name}.log"
        self.argv = [
            sys.executable,
            "-m",
            "streamprocessor",
            "run",
            f"{PROCESSOR}:{handler}",
            *args,
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> Processor:
        """Start the process (stdin is /dev/null, so the consumer is the Kafka one)."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started = time.monotonic()
        return self

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        """Fail with the end of the log when the process exited."""
        assert self.proc is not None
        code = self.proc.poll()
        if code is not None:
            raise AssertionError(f"processor {self.name} exited with {code}:\n{self.log_tail()}")

    def kill(self) -> float:
        """SIGKILL the process and reap it; return the time of the kill."""
        assert self.proc is not None
        at = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        return at

    def terminate(self, timeout: float) -> tuple[int, float]:
        """SIGTERM the process; return its exit status and how long it took to exit.

        Fails (after a SIGKILL) when it does not exit within ``timeout`` seconds.
        """
        assert self.proc is not None
        at = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"processor {self.name} did not exit within {timeout:g}s of SIGTERM:\n"
                f"{self.log_tail()}"
            ) from None
        return code, time.monotonic() - at

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit on its own; fail after ``timeout`` seconds."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"processor {self.name} still running after {timeout:g}s:\n{self.log_tail()}"
            ) from None

    def log_text(self) -> str:
        """Everything the process wrote (stdout and stderr)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the log."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        """Kill the process if it still runs (clean-up)."""
        if self.alive:
            self.kill()


def run_command(
    args: Iterable[str], env: Mapping[str, str], timeout: float = 60.0, stdin: bytes = b""
) -> tuple[int, bytes, bytes, float]:
    """Run ``streamprocessor ARGS`` to its end (bounded); return status, out, err, seconds."""
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "streamprocessor", *args],
            env=dict(env),
            input=stdin,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"streamprocessor {' '.join(args)} still running after {timeout:g}s:\n"
            f"{(exc.stderr or b'').decode(errors='replace')[-3000:]}"
        ) from None
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


@contextlib.contextmanager
def processors() -> Iterator[list[Processor]]:
    """Collect processors; every one still running at the end is killed."""
    started: list[Processor] = []
    try:
        yield started
    finally:
        for p in started:
            p.stop()


# --------------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------------


class _Sampler:
    """A thread that samples something into ``_samples`` until the ``with`` block ends."""

    _c: Any  # the sampling thread's own client handle, closed at the end

    def __init__(self, name: str) -> None:
        self._lock = threading.Lock()
        self._samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._c.close()

    def _run(self) -> None:
        raise NotImplementedError


class OutputWatch(_Sampler):
    """Samples the output topic's end offsets every 50 ms (a thread with its own handle)."""

    def __init__(self, brokers: str, topic: str, partitions: int) -> None:
        self.topic = topic
        self.partitions = partitions
        self._brokers = brokers
        self._c = self._handle()
        self._ends: dict[int, int] = {}
        super().__init__("output-watch")

    def _handle(self) -> Any:
        return Consumer(
            {
                "bootstrap.servers": self._brokers,
                "group.id": random_name("watch"),
                "reconnect.backoff.max.ms": 500,  # samples again soon after a broker restart
                "log_level": 1,  # a broker that is down on purpose is no news
            }
        )

    def _run(self) -> None:
        ends: dict[int, int] = {}
        failing_since: float | None = None
        while not self._stop.is_set():
            failed = False
            for p in range(self.partitions):
                try:
                    high = self._c.get_watermark_offsets(
                        TopicPartition(self.topic, p), timeout=1, cached=False
                    )[1]
                except KafkaException:
                    high = -1
                if high >= 0:
                    ends[p] = max(high, ends.get(p, 0))
                else:
                    failed = True  # its leader is down or moving: keep the last value
            now = time.monotonic()
            if failed:
                failing_since = failing_since or now
                if now - failing_since > 2.0:  # stale metadata: start afresh
                    with contextlib.suppress(Exception):
                        self._c.close()
                    self._c = self._handle()
                    failing_since = None
            else:
                failing_since = None
            if len(ends) == self.partitions:
                with self._lock:
                    self._ends = dict(ends)
                    self._samples.append((now, sum(ends.values())))
            self._stop.wait(0.05)

    def count(self) -> int:
        """Outputs written so far (all partitions)."""
        with self._lock:
            return self._samples[-1][1] if self._samples else 0

    def ends(self) -> dict[int, int]:
        """The latest end offset of every output partition."""
        with self._lock:
            return dict(self._ends)

    def fresh_ends(self, timeout: float = 10.0) -> dict[int, int]:
        """End offsets from a sample taken after this call."""
        now = time.monotonic()
        deadline = now + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._samples and self._samples[-1][0] > now:
                    return dict(self._ends)
            time.sleep(0.02)
        raise AssertionError(f"no end offsets of {self.topic} within {timeout:g}s")

    def wait_for(
        self, target: int, timeout: float, running: Iterable[Processor] = (), what: str = ""
    ) -> float:
        """Wait until ``target`` outputs exist; return when. Fails if a processor exits."""
        deadline = time.monotonic() + timeout
        procs = list(running)
        while True:
            if self.count() >= target:
                return time.monotonic()
            for p in procs:
                p.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what or 'output'}: {self.count()} of {target} outputs after {timeout:g}s"
                )
            time.sleep(0.02)

    def first_growth_after(self, since: float, timeout: float) -> float:
        """Return when the output first grew after ``since`` (a recovery time's end)."""
        deadline = time.monotonic() + timeout
        base: int | None = None
        while True:
            with self._lock:
                later = [(t, c) for t, c in self._samples if t >= since]
            if later:
                if base is None:
                    base = later[0][1]
                for t, c in later:
                    if c > base:
                        return t
            if time.monotonic() > deadline:
                raise AssertionError(f"no new output within {timeout:g}s")
            time.sleep(0.02)

    def rate(self, window: float = 2.0, until: float | None = None) -> float:
        """Outputs per second over the ``window`` seconds before ``until`` (default: now)."""
        end = time.monotonic() if until is None else until
        with self._lock:
            picked = [(t, c) for t, c in self._samples if end - window <= t <= end]
        if len(picked) < 2 or picked[-1][0] <= picked[0][0]:
            return 0.0
        return (picked[-1][1] - picked[0][1]) / (picked[-1][0] - picked[0][0])


class CommitWatch(_Sampler):
    """Samples a group's committed offsets (their sum) every 250 ms in a thread."""

    def __init__(self, brokers: str, group: str, topic: str, partitions: int) -> None:
        self._tps = [TopicPartition(topic, p) for p in range(partitions)]
        self._c = Consumer(
            {
                "bootstrap.servers": brokers,
                "group.id": group,  # only asks; never joins the group
                "enable.auto.commit": False,
                "log_level": 1,
            }
        )
        super().__init__("commit-watch")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                total = sum(max(tp.offset, 0) for tp in self._c.committed(self._tps, 2))
            except KafkaException:
                total = -1  # the coordinator is moving: no sample
            if total >= 0:
                with self._lock:
                    self._samples.append((time.monotonic(), total))
            self._stop.wait(0.25)

    def longest_stall(self, start: float, end: float, total: int) -> float:
        """The longest time in [start, end] the commits stood still short of ``total``."""
        with self._lock:
            picked = [(t, c) for t, c in self._samples if start <= t <= end]
        if not picked:
            return end - start
        last_t, last_c = start, picked[0][1]
        best = 0.0
        for t, c in picked:
            if c != last_c:
                best = max(best, t - last_t)
                last_t, last_c = t, c
            if c >= total:
                return best
        return max(best, picked[-1][0] - last_t)


def kill_bound(rate: float) -> int:
    """Duplicates a kill -9 may cause: one commit interval of work plus what was in flight.

    In flight: acknowledged positions not yet handed to librdkafka (≤ STORE_INTERVAL),
    outputs not yet delivered (the producer's linger), plus a round-trip slack.
    """
    return math.ceil(rate * (COMMIT_INTERVAL + STORE_INTERVAL + LINGER + SLACK))


# --------------------------------------------------------------------------------------------
# The verifier
# --------------------------------------------------------------------------------------------


@dataclass
class OutRecord:
    """One output record: where it is and which input it copies."""

    partition: int
    offset: int
    src: tuple[int, int]
    by: str = ""
    """The processor that made the copy (its name)."""
    timestamp: float = 0.0
    """When it was produced (seconds since the epoch)."""


@dataclass
class Verdict:
    """What the verifier found."""

    expected: int
    outputs: list[OutRecord]
    missing: list[tuple[int, int]]
    duplicates: int
    unexpected: list[tuple[int, int]]
    order_errors: list[str]
    committed: dict[int, int]
    end_offsets: dict[int, int]
    duplicated: Counter[tuple[int, int]] = field(default_factory=Counter)

    @property
    def committed_at_end(self) -> bool:
        """Whether the group's committed offsets equal the input's end offsets."""
        return self.committed == self.end_offsets

    def summary(self) -> str:
        """One line for assertion messages and the logs."""
        return (
            f"{self.expected} in, {len(self.outputs)} out, {len(self.missing)} missing "
            f"(first {sorted(self.missing)[:5]}), {self.duplicates} duplicates, "
            f"{len(self.unexpected)} unexpected, {len(self.order_errors)} order errors "
            f"{self.order_errors[:3]}, committed {self.committed} vs end {self.end_offsets}"
        )


def read_output(
    brokers: str, topic: str, partitions: int, stable: float = 1.0, timeout: float = 120.0
) -> list[OutRecord]:
    """Read ``topic`` from the start to its end, until the end offsets hold still ``stable`` s.

    Reads with ``read_committed``, without a group. Every record must carry ``src``.
    """
    c = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": random_name("verify"),
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": False,
        }
    )
    deadline = time.monotonic() + timeout
    out: list[OutRecord] = []
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        position = dict.fromkeys(range(partitions), 0)
        while True:
            ends = {
                p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                for p in range(partitions)
            }
            while any(position[p] < ends[p] for p in ends):
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"{topic}: read {len(out)} records, positions {position}, "
                        f"ends {ends} after {timeout:g}s"
                    )
                for m in c.consume(1000, 0.2):
                    if m.error() is not None:
                        continue
                    headers = dict(m.headers() or [])
                    raw = headers.get("src")
                    assert raw is not None, f"output {m.partition()}@{m.offset()} has no src"
                    p_text, o_text = raw.decode().split(":")
                    out.append(
                        OutRecord(
                            m.partition(),
                            m.offset(),
                            (int(p_text), int(o_text)),
                            (headers.get("by") or b"").decode(),
                            m.timestamp()[1] / 1000.0,
                        )
                    )
                    position[m.partition()] = m.offset() + 1
            time.sleep(stable)
            again = {
                p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                for p in range(partitions)
            }
            if again == ends:
                return out
    finally:
        c.close()


def verify(
    brokers: str,
    inp: InputSet,
    out_topic: str,
    out_partitions: int,
    group: str,
    stable: float = 1.0,
) -> Verdict:
    """Read the whole output and compare it with the input; see :class:`Verdict`."""
    outputs = read_output(brokers, out_topic, out_partitions, stable=stable)
    return judge(inp, outputs, committed_offsets(brokers, group, inp.topic, inp.partitions))


def judge(inp: InputSet, outputs: list[OutRecord], committed: dict[int, int]) -> Verdict:
    """Compute missing, duplicates, unexpected records and order errors (pure)."""
    seen = Counter(r.src for r in outputs)
    missing = sorted(inp.records - set(seen))
    unexpected = sorted(set(seen) - inp.records)
    duplicated = Counter({src: n - 1 for src, n in seen.items() if n > 1})
    # Per source partition, in the order of each output partition: the first copies of
    # the inputs come in increasing input offset (a replay after a crash may go back,
    # but only to inputs already copied).
    order_errors: list[str] = []
    last: dict[tuple[int, int], int] = {}  # (source partition, output partition) → offset
    first_seen: set[tuple[int, int]] = set()
    for r in sorted(outputs, key=lambda r: (r.partition, r.offset)):
        if r.src in first_seen:
            continue
        first_seen.add(r.src)
        key = (r.src[0], r.partition)
        prev = last.get(key, -1)
        if r.src[1] < prev:
            order_errors.append(
                f"input {r.src[0]}:{r.src[1]} first copied at output "
                f"{r.partition}@{r.offset}, after input offset {prev}"
            )
        last[key] = r.src[1]
    return Verdict(
        expected=inp.n,
        outputs=outputs,
        missing=missing,
        duplicates=sum(duplicated.values()),
        unexpected=unexpected,
        order_errors=order_errors,
        committed=committed,
        end_offsets=dict(inp.end_offsets),
        duplicated=duplicated,
    )


def redone_after(
    outputs: list[OutRecord], before: Mapping[int, int], committed: Mapping[int, int]
) -> int:
    """Inputs copied before a fault (outputs below ``before``) at or past ``committed``.

    These are the inputs the processor handled but had not committed when it died: what
    its successor copies again.
    """
    done = {r.src for r in outputs if r.offset < before.get(r.partition, 0)}
    return sum(1 for p, o in done if o >= max(committed.get(p, 0), 0))


def longest_pause(outputs: Iterable[OutRecord], start: float, end: float) -> float:
    """The longest time between two outputs appended within [start, end] (epoch seconds).

    The output topic stamps append times, so this is how long the copying stood still
    around a fault or a rebalance.
    """
    times = sorted(r.timestamp for r in outputs if start <= r.timestamp <= end)
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def outage_bound(rate: float, session: float = SESSION_TIMEOUT) -> int:
    """Duplicates a broker outage may cause: :func:`kill_bound`, plus the work handed out
    until the group session expires (librdkafka then drops the partitions, and what was
    handled since the last commit is consumed again)."""
    return kill_bound(rate) + math.ceil(rate * session)


def fmt_seconds(values: Iterable[float]) -> str:
    """``1.23, 4.56`` for reports."""
    return ", ".join(f"{v:.2f}" for v in values)
