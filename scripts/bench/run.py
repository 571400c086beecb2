"""The benchmark's driver: scripts/bench.sh builds the binaries, then runs this.

It starts the release binary on a fresh database for each workload, drives it with wrk
over loopback (every run bounded in time), and prints one table row per run. Every run
is set beside two others made in the same session, so that the machine's noise cancels:
`GET /health/live` (the cheapest request through the whole middleware stack) at the same
concurrency, and, with --baseline, the same workload on another build.
"""
import argparse
import datetime
import json
import os
import random
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def arguments():
    parser = argparse.ArgumentParser(prog="scripts/bench.sh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help=argparse.SUPPRESS)
    parser.add_argument("--upstream-binary", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-binary", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", metavar="REV",
                        help="also run every workload on the build of this git revision, "
                             "alternating with this one, and report the ratio")
    parser.add_argument("--workloads", default=os.environ.get("BENCH_WORKLOADS", "create read list mixed"),
                        help="of: create read list mixed (default: all)")
    parser.add_argument("--concurrency", default=os.environ.get("BENCH_CONCURRENCY", "1 64 256"))
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", "10")))
    parser.add_argument("--seed-orders", type=int, default=int(os.environ.get("BENCH_SEED_ORDERS", "2000")))
    parser.add_argument("--postgres", metavar="URL", default=os.environ.get("BENCH_DATABASE_URL", ""),
                        help="run on this PostgreSQL database (emptied before each workload) "
                             "instead of a fresh SQLite file")
    parser.add_argument("--upstreams", choices=["demo", "fake"],
                        default=os.environ.get("BENCH_UPSTREAMS", "demo"),
                        help="demo: the built-in demo directory; fake: customer and inventory "
                             "services of their own (examples/bench_upstream.rs), answering at once")
    parser.add_argument("--instances", default=os.environ.get("BENCH_INSTANCES", "1"),
                        help="service instance counts to run side by side on one PostgreSQL, e.g. '1 2 4'")
    parser.add_argument("--scale", type=int, default=0, metavar="ORDERS",
                        help="instead of the workloads: seed this many orders straight into the "
                             "database and compare reads, listings and placements with 10,000")
    parser.add_argument("--log", default=os.environ.get("BENCH_LOG", "warn"))
    parser.add_argument("--record", default=os.environ.get("BENCH_RECORD", "yes"), choices=["yes", "no"])
    return parser.parse_args()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


def request(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.loads(response.read())


def psql(url, sql, quiet=True):
    """Runs SQL on PostgreSQL; returns what it printed, unaligned."""
    env = dict(os.environ, PGOPTIONS="--client-min-messages=warning")
    done = subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-Atq", url], input=sql, text=True,
                          capture_output=True, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"psql failed: {done.stderr.strip()}")
    return done.stdout.strip()


class Database:
    """A fresh, empty database for each service run."""

    def __init__(self, work, postgres):
        self.work = work
        self.postgres = postgres

    def fresh(self):
        if self.postgres:
            psql(self.postgres, "DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            return self.postgres
        for suffix in ("", "-wal", "-shm"):
            path = self.path() + suffix
            if os.path.exists(path):
                os.remove(path)
        return self.url()

    def path(self):
        return os.path.join(self.work, "orders.db")

    def url(self):
        return self.postgres or f"sqlite://{self.path()}"

    def size(self):
        """Bytes the orders take on disk, the write-ahead log folded in."""
        if self.postgres:
            return int(psql(self.postgres, "CHECKPOINT; SELECT pg_database_size(current_database());"))
        with sqlite3.connect(self.path()) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return os.path.getsize(self.path())


class Services:
    """One or more instances of one build of the service, on one database."""

    def __init__(self, binary, database_url, count, env, log_dir, name):
        self.processes = []
        self.urls = []
        for n in range(count):
            port = free_port()
            log = open(os.path.join(log_dir, f"{name}-{n}.log"), "w")
            process = subprocess.Popen(
                [binary],
                env=dict(os.environ, ORDERS_LISTEN_ADDR=f"127.0.0.1:{port}",
                         ORDERS_DATABASE_URL=database_url, ORDERS_LOG_FORMAT="json", **env),
                stdout=log, stderr=subprocess.STDOUT)
            self.processes.append((process, log))
            url = f"http://127.0.0.1:{port}"
            self.urls.append(url)
            # One at a time: the first applies the migrations the others then find done.
            wait_ready(url, process, log.name)

    def pids(self):
        return [process.pid for process, _ in self.processes]

    def stop(self):
        for process, _ in self.processes:
            process.terminate()
        for process, log in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def wait_ready(url, process, log_name):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if get(url + "/health/ready")[0] == 200:
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    with open(log_name) as log:
        sys.exit(f"the service did not start:\n{log.read()}")


class PeakRss:
    """The highest VmRSS any one of the processes reached while it ran, sampled every 50 ms."""

    def __init__(self, pids):
        self.pids = pids
        self.peak_kib = 0
        self.running = True
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self):
        while self.running:
            for pid in self.pids:
                try:
                    with open(f"/proc/{pid}/status") as status:
                        for line in status:
                            if line.startswith("VmRSS:"):
                                self.peak_kib = max(self.peak_kib, int(line.split()[1]))
                except OSError:
                    pass
            time.sleep(0.05)

    def stop(self):
        self.running = False
        self.thread.join()
        return self.peak_kib / 1024


def wrk(urls, workload, concurrency, seconds, env):
    """Drives every instance at once, the connections split between them; the rate is
    their sum, each latency percentile the slowest instance's."""
    share = max(1, concurrency // len(urls))
    runs = []
    for url in urls:
        threads = 1 if share < 2 else 2
        runs.append(subprocess.Popen(
            ["wrk", "-t", str(threads), "-c", str(share), "-d", f"{seconds}s", "--timeout", "10s",
             "-s", os.path.join(HERE, f"{workload}.lua"), url],
            env=dict(os.environ, BENCH_LUA=HERE,
                     BENCH_RUN=f"{workload}-{concurrency}-{random.getrandbits(48):x}", **env),
            stdout=subprocess.PIPE, text=True))
    results = []
    for run in runs:
        out, _ = run.communicate(timeout=seconds + 60)
        results.append(json.loads(out.strip().splitlines()[-1]))
    return {
        "rate": sum(r["requests"] / r["seconds"] for r in results),
        "p50": max(r["p50_us"] for r in results) / 1000,
        "p99": max(r["p99_us"] for r in results) / 1000,
        "p999": max(r["p999_us"] for r in results) / 1000,
        "errors": sum(r["errors"] for r in results),
    }


def seed_through_api(url, count, ids_path):
    subprocess.run([sys.executable, os.path.join(HERE, "seed.py"), url.rsplit(":", 1)[1],
                    str(count), ids_path], check=True)


class Bench:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.database = Database(work, args.postgres)
        self.rows = []
        self.upstream = None
        self.service_env = {"RUST_LOG": args.log}
        if args.upstreams == "fake":
            self.upstream = subprocess.Popen([args.upstream_binary, "127.0.0.1:0"],
                                             stdout=subprocess.PIPE, text=True)
            address = self.upstream.stdout.readline().strip()
            self.service_env.update(ORDERS_CUSTOMER_SERVICE_URL=f"http://{address}",
                                    ORDERS_INVENTORY_SERVICE_URL=f"http://{address}")
        self.builds = [("this", args.binary)]
        if args.baseline_binary:
            self.builds.insert(0, (f"baseline {args.baseline}", args.baseline_binary))

    def close(self):
        if self.upstream:
            self.upstream.kill()
            self.upstream.wait()

    def start(self, binary, instances, name):
        return Services(binary, self.database.fresh(), instances, self.service_env, self.work, name)

    def measure(self, services, workload, concurrency, env=None):
        rss = PeakRss(services.pids())
        result = wrk(services.urls, workload, concurrency, self.args.seconds,
                     dict(env or {}, BENCH_IDS=os.path.join(self.work, "ids.txt")))
        result["rss"] = rss.stop()
        return result

    def row(self, label, result, reference, baseline=None):
        ratio = lambda a, b: f"{a / b:.2f}" if b else "–"
        cells = [*label, f"{result['rate']:,.0f}", ratio(result["rate"], reference),
                 ratio(result["rate"], baseline) if baseline is not None else "",
                 f"{result['p50']:.2f}", f"{result['p99']:.2f}", f"{result['p999']:.2f}",
                 str(result["errors"]), f"{result['rss']:.1f}"]
        line = "| " + " | ".join(cells) + " |"
        print(line, file=sys.stderr, flush=True)
        self.rows.append(line)

    def workloads(self):
        concurrencies = [int(c) for c in self.args.concurrency.split()]
        for instances in [int(n) for n in self.args.instances.split()]:
            if instances > 1 and not self.args.postgres:
                sys.exit("--instances above 1 needs --postgres: SQLite is one process's database")
            for workload in self.args.workloads.split():
                previous = {}
                for build, binary in self.builds:
                    services = self.start(binary, instances, f"{workload}-{instances}")
                    if workload != "create":
                        seed_through_api(services.urls[0], self.args.seed_orders,
                                         os.path.join(self.work, "ids.txt"))
                    for concurrency in concurrencies:
                        reference = self.measure(services, "health", concurrency)["rate"]
                        result = self.measure(services, workload, concurrency)
                        baseline = previous.get(concurrency) if build == "this" and self.args.baseline else None
                        previous[concurrency] = result["rate"]
                        self.row([workload, str(concurrency), str(instances), build],
                                 result, reference, baseline)
                    services.stop()

    def scale(self):
        """Seeds 10,000 orders, measures, grows the same database to --scale orders and
        measures again: the same requests against a database a thousand times larger."""
        target = self.args.scale
        small = 10_000
        binary = self.args.binary
        services = self.start(binary, 1, "scale-templates")
        seeder = Seeder(self.database, services.urls[0])
        services.stop()
        previous = {}
        per_order = 0.0
        for count in (small, target):
            if per_order:
                self.check_disk(per_order, seeder.count, count)
            seeder.grow_to(count)
            size = self.database.size()
            per_order = size / count
            services = Services(binary, self.database.url(), 1, self.service_env, self.work, f"scale-{count}")
            env = {"BENCH_CUSTOMERS": str(count // ORDERS_PER_CUSTOMER),
                   "BENCH_STORES": str(count // ORDERS_PER_STORE)}
            seeder.write_ids(os.path.join(self.work, "ids.txt"), count)
            for workload in ("read", "customer-page", "store-page", "create"):
                for concurrency in [int(c) for c in self.args.concurrency.split()]:
                    reference = self.measure(services, "health", concurrency)["rate"]
                    result = self.measure(services, workload, concurrency, env)
                    key = (workload, concurrency)
                    self.row([workload, str(concurrency), f"{count:,}", f"{size / count:,.0f}"],
                             result, reference, previous.get(key) if count == target else None)
                    previous[key] = result["rate"]
            services.stop()

    def check_disk(self, per_order, orders_now, orders_then):
        """Refuses to grow the database past the free space, saying what it would need."""
        needed = per_order * (orders_then - orders_now) * 2  # the log and slack besides the tables
        where = "/var/lib/postgresql" if self.args.postgres else self.work
        free = shutil.disk_usage(where if os.path.exists(where) else "/").free
        if needed > free:
            sys.exit(f"seeding {orders_then:,} orders needs about {needed / 2**30:.1f} GiB free "
                     f"({per_order:,.0f} bytes an order, twice over for the log and slack); "
                     f"{free / 2**30:.1f} GiB are free")
        print(f"seeding up to {orders_then:,} orders: about {per_order * orders_then / 2**30:.1f} GiB "
              f"({free / 2**30:.1f} GiB free)", file=sys.stderr, flush=True)

    def report(self):
        if self.args.scale:
            header = ("| workload | concurrency | orders | bytes an order | requests/s | × health | × 10,000 "
                      "| p50 ms | p99 ms | p99.9 ms | errors | peak RSS MiB |\n"
                      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        else:
            header = ("| workload | concurrency | instances | build | requests/s | × health | × baseline "
                      "| p50 ms | p99 ms | p99.9 ms | errors | peak RSS MiB |\n"
                      "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        table = "\n".join([header, *self.rows])
        print()
        print(table)
        if self.args.record != "yes":
            return
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
        with open("/proc/meminfo") as meminfo:
            memory = int(next(line.split()[1] for line in meminfo if line.startswith("MemTotal:"))) / 2**20
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=ROOT, check=False).stdout.strip() or "unknown"
        # The results log itself is left out: every recorded run changes it.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":!docs/performance.md"], capture_output=True, text=True, cwd=ROOT,
                               check=False).stdout.strip()
        if self.args.postgres:
            backend = f"PostgreSQL {psql(self.args.postgres, 'SHOW server_version')}, on the same machine"
        else:
            backend = "SQLite in WAL with synchronous=FULL (every 201 durable)"
        flags = shlex.join(flags_for_docs(sys.argv[1:]))
        with open(os.path.join(ROOT, "docs", "performance.md"), "a") as doc:
            doc.write(f"\n### {datetime.date.today()} — {commit}{' (uncommitted changes)' if dirty else ''}\n\n"
                      f"Machine: {os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {os.uname().sysname} "
                      f"{os.uname().release}; wrk on the same machine;\n{self.args.seconds} s a run; {backend}; "
                      f"upstreams: {self.args.upstreams}.\n"
                      f"`scripts/bench.sh {flags}`\n\n{table}\n")
        print("recorded in docs/performance.md", file=sys.stderr)


def flags_for_docs(flags):
    """The flags as given to bench.sh: without the binaries it passes on."""
    given, skip = [], False
    for flag in flags:
        if skip:
            skip = False
        elif flag in ("--binary", "--upstream-binary", "--baseline-binary"):
            skip = True
        else:
            given.append(flag)
    return given


ORDERS_PER_CUSTOMER = 100
ORDERS_PER_STORE = 1_000
CANCELED_EVERY = 10
BATCH = 500_000


class Seeder:
    """Grows the database with copies of two orders placed through the API (one pending,
    one canceled), straight into its tables: order n belongs to customer `cust-s{n/100}`
    and store `store-s{n/1000}`, every tenth is canceled, and each is n seconds older
    than its template. Idempotency keys are not seeded: they expire after a day."""

    def __init__(self, database, url):
        self.database = database
        body = {"storeId": "store-1", "customerId": "cust-1",
                "items": [{"productId": "prod-1", "quantity": 1, "unitPrice": 1000},
                          {"productId": "prod-2", "quantity": 2, "unitPrice": 250}],
                "shippingCost": 500, "taxAmount": 120}
        self.pending = request("POST", url + "/v1/orders", body)["id"]
        self.canceled = request("POST", url + "/v1/orders", body)["id"]
        request("POST", f"{url}/v1/orders/{self.canceled}/cancel", {"reason": "seed"})
        self.count = 0

    @staticmethod
    def order_id(n):
        return f"00000000-0000-4000-8000-{n:012x}"

    def write_ids(self, path, count):
        picks = random.sample(range(1, count + 1), min(count, 100_000))
        with open(path, "w") as out:
            out.write("\n".join(self.order_id(n) for n in picks) + "\n")

    def grow_to(self, count):
        started = time.monotonic()
        for first in range(self.count + 1, count + 1, BATCH):
            last = min(first + BATCH - 1, count)
            if self.database.postgres:
                self.postgres_batch(first, last)
            else:
                self.sqlite_batch(first, last)
        print(f"seeded {count - self.count:,} orders in {time.monotonic() - started:.0f} s",
              file=sys.stderr, flush=True)
        self.count = count

    def copies(self, table, columns, key, overrides, numbers, template):
        """INSERT … SELECT of the templates' rows of `table`, one copy per number."""
        select = ", ".join(overrides.get(column, f"t.{column}") for column in columns)
        return (f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM {numbers} "
                f"JOIN {table} t ON t.{key} = {template}")

    def template(self):
        return f"CASE WHEN n.i % {CANCELED_EVERY} = 0 THEN '{self.canceled}' ELSE '{self.pending}' END"

    def sqlite_batch(self, first, last):
        numbers = f"(WITH RECURSIVE s(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM s WHERE i < {last}) SELECT i FROM s) n"
        order_id = "printf('00000000-0000-4000-8000-%012x', n.i)"
        older = "strftime('%Y-%m-%d %H:%M:%f', t.{0}, printf('-%d seconds', n.i))"
        connection = sqlite3.connect(self.database.path(), isolation_level=None)
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-1000000")
        columns = lambda table: [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
        connection.execute("BEGIN")
        connection.execute(self.copies("orders", columns("orders"), "id", {
            "id": order_id,
            "customer_id": f"'cust-s' || ((n.i - 1) / {ORDERS_PER_CUSTOMER})",
            "store_id": f"'store-s' || ((n.i - 1) / {ORDERS_PER_STORE})",
            "created_at": older.format("created_at"),
            "updated_at": older.format("updated_at"),
        }, numbers, self.template()))
        for table in ("order_items", "order_history"):
            connection.execute(self.copies(table, columns(table), "order_id",
                                           {"order_id": order_id}, numbers, self.template()))
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()

    def postgres_batch(self, first, last):
        url = self.database.postgres
        numbers = f"generate_series({first}, {last}) AS n(i)"
        order_id = "'00000000-0000-4000-8000-' || lpad(to_hex(n.i), 12, '0')"
        older = "t.{0} - make_interval(secs => n.i)"
        def columns(table):
            return psql(url, "SELECT column_name FROM information_schema.columns WHERE table_name = "
                             f"'{table}' AND table_schema = 'public' ORDER BY ordinal_position").split()
        statements = [
            self.copies("orders", columns("orders"), "id", {
                "id": order_id,
                "customer_id": f"'cust-s' || ((n.i - 1) / {ORDERS_PER_CUSTOMER})",
                "store_id": f"'store-s' || ((n.i - 1) / {ORDERS_PER_STORE})",
                "created_at": older.format("created_at"),
                "updated_at": older.format("updated_at"),
            }, numbers, self.template()),
            *(self.copies(table, columns(table), "order_id", {"order_id": order_id}, numbers,
                          self.template()) for table in ("order_items", "order_history")),
        ]
        psql(url, "SET synchronous_commit = off;\nBEGIN;\n" + ";\n".join(statements) + ";\nCOMMIT;\nANALYZE;")


def main():
    args = arguments()
    work = tempfile.mkdtemp(prefix="bench-")
    bench = Bench(args, work)
    try:
        if args.scale:
            if args.scale <= 10_000:
                sys.exit("--scale is the order count to grow to; more than the 10,000 it compares with")
            bench.scale()
        else:
            bench.workloads()
    finally:
        bench.close()
        shutil.rmtree(work, ignore_errors=True)
    bench.report()


if __name__ == "__main__":
    main()
