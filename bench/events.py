"""Event delivery benchmark: events delivered per second and the delay from commit to webhook.

    .venv/bin/python bench/events.py [--events 2000] [--rules 1,8] [--json FILE]

One modelreg server (SQLite, ``--allow-private-webhooks``) and one webhook receiver on 127.0.0.1.
For each rule count, N rules all match the events and target the receiver; the bench then

- *delay*: sends events one at a time with ``PutEvents`` and measures, per event, the time from the
  moment ``PutEvents`` returned (the event is committed) to the moment the receiver got it;
- *throughput*: sends ``--events`` events in batches of 10 as fast as one client can and measures
  how long until the receiver has every expected delivery (events x rules).

Each delivery is one HTTP call (an event matching 8 rules is 8 calls). The receiver answers 200 at
once. Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procs import ServerProcess, free_port


class Receiver:
    """Counts deliveries and records when each event id first arrived."""

    def __init__(self) -> None:
        self.first_seen: dict[str, float] = {}
        self.count = 0
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                now = time.perf_counter()
                event_id = json.loads(body)["id"]
                with receiver.cond:
                    receiver.first_seen.setdefault(event_id, now)
                    receiver.count += 1
                    receiver.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_count(self, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.count < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    def wait_event(self, event_id: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while event_id not in self.first_seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.first_seen[event_id]

    def reset(self) -> None:
        with self.cond:
            self.first_seen.clear()
            self.count = 0

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def events_client(url: str) -> Any:
    return boto3.client(
        "events",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )


def wire_rules(events: Any, n: int, hook: str, tag: str) -> None:
    conn = events.create_connection(
        Name=f"bench-{tag}",
        AuthorizationType="API_KEY",
        AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "X-Token", "ApiKeyValue": "bench"}},
    )
    dest = events.create_api_destination(
        Name=f"bench-{tag}", ConnectionArn=conn["ConnectionArn"], InvocationEndpoint=hook, HttpMethod="POST"
    )
    for i in range(n):
        name = f"bench-{tag}-{i}"
        events.put_rule(Name=name, EventPattern=json.dumps({"source": [f"bench.{tag}"]}))
        events.put_targets(Rule=name, Targets=[{"Id": "hook", "Arn": dest["ApiDestinationArn"]}])


def entry(tag: str, i: int) -> dict[str, Any]:
    return {"Source": f"bench.{tag}", "DetailType": "Bench Event", "Detail": json.dumps({"i": i})}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(url: str, receiver: Receiver, rules: int, n_events: int, n_delay: int) -> dict[str, Any]:
    tag = f"r{rules}"
    events = events_client(url)
    wire_rules(events, rules, receiver.url, tag)
    receiver.reset()
    delays = []
    for i in range(n_delay):
        out = events.put_events(Entries=[entry(tag, i)])
        committed = time.perf_counter()
        seen = receiver.wait_event(out["Entries"][0]["EventId"], timeout=30)
        if seen is None:
            raise RuntimeError(f"event {i} was not delivered within 30 s")
        delays.append((seen - committed) * 1000)
    receiver.wait_count(n_delay * rules, timeout=60)
    receiver.reset()
    started = time.perf_counter()
    for start in range(0, n_events, 10):
        events.put_events(Entries=[entry(tag, i) for i in range(start, min(n_events, start + 10))])
    sent = time.perf_counter()
    complete = receiver.wait_count(n_events * rules, timeout=600)
    finished = time.perf_counter()
    for i in range(rules):  # leave the server as we found it
        name = f"bench-{tag}-{i}"
        events.remove_targets(Rule=name, Ids=["hook"])
        events.delete_rule(Name=name)
    return {
        "rules": rules,
        "events": n_events,
        "deliveries": receiver.count,
        "complete": complete,
        "put_events_per_s": n_events / (sent - started),
        "deliveries_per_s": receiver.count / (finished - started),
        "events_fully_delivered_per_s": n_events / (finished - started) if complete else None,
        "delay_ms_p50": statistics.median(delays),
        "delay_ms_p99": percentile(delays, 99),
        "delay_samples": len(delays),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2000, help="events in the throughput run")
    parser.add_argument("--delay-samples", type=int, default=300, help="events in the delay run")
    parser.add_argument("--rules", default="1,8", help="comma-separated rule counts")
    parser.add_argument("--json", help="write the raw results here")
    args = parser.parse_args()
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="modelreg-events-bench-") as tmp:
        port = free_port()
        server = ServerProcess(
            name="modelreg",
            port=port,
            health_path="/healthz",
            log_path=Path(tmp) / "server.log",
            cwd=Path(tmp),
            argv=[
                sys.executable,
                "-m",
                "modelreg.cli",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                tmp,
                "--allow-private-webhooks",
            ],
        ).start()
        try:
            results = [
                measure(server.url, receiver, int(r), args.events, args.delay_samples)
                for r in args.rules.split(",")
            ]
        finally:
            server.stop()
            receiver.stop()
    print(
        f"{'rules':>5} {'events':>7} {'deliveries':>10} {'deliveries/s':>13} {'events/s (all rules)':>21} "
        f"{'commit->webhook p50':>20} {'p99':>8}"
    )
    for r in results:
        full = f"{r['events_fully_delivered_per_s']:.0f}" if r["complete"] else "incomplete"
        print(
            f"{r['rules']:>5} {r['events']:>7} {r['deliveries']:>10} "
            f"{r['deliveries_per_s']:>13.0f} {full:>21} "
            f"{r['delay_ms_p50']:>17.1f} ms {r['delay_ms_p99']:>5.1f} ms"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
