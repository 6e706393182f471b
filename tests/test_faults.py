"""Faults: the database goes away under a running service, and comes back.

A throwaway PostgreSQL cluster, started here with the machine's own binaries (``initdb`` and
``pg_ctl`` in a temporary folder, never the shared server), backs the real service, started the
way production starts it (``python -m service migrate``, then ``python -m service serve``). The
tests stop the cluster, kill its connections and cut writes off half-way, and check that every
request fails fast with a 503 problem while ``/readyz`` says not ready, that the service recovers
by itself when the database returns, and that nothing is ever half-written.

Without PostgreSQL binaries the module is skipped with the reason, unless
``PLANNER_TEST_REQUIRE_POSTGRES=1`` (as in CI), which makes that a failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import psycopg
import pytest

from tests.conftest import API_KEY, REQUIRE_POSTGRES

PROBLEM = "application/problem+json"
#: No request may take longer than this while the database is down (connect and pool
#: timeouts are 5 s by default; a refused connection fails at once).
FAIL_FAST_S = 10.0
#: How long the service may take to notice by itself that the database is back.
RECOVERY_S = 30.0
AUTH = {"X-API-Key": API_KEY}


# --- helpers shared with tests/test_concurrency.py ------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a service process: only our settings, none inherited."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PLANNER_")}
    env.update(
        PLANNER_DATABASE_URL=database_url,
        PLANNER_API_KEYS=API_KEY,
        PLANNER_AUTO_MIGRATE="false",
        PLANNER_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def migrate(env: dict[str, str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``python -m service migrate`` with ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "service", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


@dataclass
class ServiceProcess:
    """``python -m service serve`` on a free port, its output in a log file."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll ``/readyz`` until it answers 200."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            assert self.process.poll() is None, f"the service exited:\n{self.log()}"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            assert time.monotonic() < deadline, f"the service never became ready:\n{self.log()}"
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def running_service(env: dict[str, str], log_path: Path) -> Iterator[ServiceProcess]:
    """A started, ready service process, always stopped afterwards."""
    service = ServiceProcess(env, log_path)
    service.start()
    try:
        service.wait_ready()
        yield service
    finally:
        service.stop()


# --- the throwaway cluster -------------------------------------------------------------------


def postgres_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` live: PATH, else the newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def _cluster_user() -> str | None:
    """``initdb`` refuses to run as root: as root, the cluster belongs to ``postgres``."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return ""
    return "postgres"


class Cluster:
    """A PostgreSQL cluster in a temporary folder, on a free loopback port."""

    def __init__(self, bin_dir: Path, user: str | None) -> None:
        self.bin_dir = bin_dir
        self.user = user
        self.root = Path(tempfile.mkdtemp(prefix="planner-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        try:
            if user is not None:
                entry = pwd.getpwnam(user)
                os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self._pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                     "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _pg(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin_dir / program), *args],
            user=self.user or None,
            cwd=self.root,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )

    def url(self, database: str = "postgres", *, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=100"
        )
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                 "-o", options, "-w", "-t", "60", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        status = subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "status"],
            user=self.user or None,
            capture_output=True,
            check=False,
            timeout=30,
        )
        return status.returncode == 0

    def ensure_running(self) -> None:
        if not self.running():
            self.start()

    def sql(
        self, statement: str, database: str = "postgres", params: tuple[Any, ...] | None = None
    ) -> list[tuple[Any, ...]]:
        """Run one statement as the superuser (autocommit); the rows it returned."""
        with psycopg.connect(self.url(database, driver="postgresql"), autocommit=True) as conn:
            cursor = conn.execute(statement, params)
            return list(cursor.fetchall()) if cursor.description else []

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            if self.running():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _unavailable(reason: str) -> NoReturn:
    if REQUIRE_POSTGRES:
        pytest.fail(f"{reason} (PLANNER_TEST_REQUIRE_POSTGRES=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster for this module, always removed afterwards."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        _unavailable("no PostgreSQL binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql")
    user = _cluster_user()
    if user == "":
        _unavailable("running as root and no 'postgres' user to own a throwaway cluster")
    try:
        created = Cluster(bin_dir, user)
    except subprocess.CalledProcessError as error:
        _unavailable(f"initdb failed: {error.stderr}")
    try:
        for attempt in range(3):
            try:
                created.start()
                break
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
                created.port = free_port()  # taken between choosing it and binding it
        created.sql("CREATE DATABASE planner")
        yield created
    finally:
        created.destroy()


@pytest.fixture(scope="module")
def service(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """The real service on the throwaway cluster, migrated once as in production."""
    env = service_env(cluster.url("planner"))
    migrate(env)
    with running_service(env, tmp_path_factory.mktemp("faults") / "service.log") as started:
        yield started


@pytest.fixture
def db_back(cluster: Cluster, service: ServiceProcess) -> Iterator[None]:
    """Whatever a test does to the cluster, the next test finds it running and the service up."""
    yield
    cluster.ensure_running()
    wait_until_ready(service.url)


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    response: httpx.Response
    seconds: float


def timed(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Timed:
    start = time.monotonic()
    response = client.request(method, path, **kwargs)
    return Timed(response, time.monotonic() - start)


def wait_until_ready(url: str, timeout: float = RECOVERY_S) -> float:
    """Seconds until ``/readyz`` answers 200 (fails after ``timeout``)."""
    start = time.monotonic()
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/readyz", timeout=FAIL_FAST_S).status_code == 200:
                return time.monotonic() - start
        assert time.monotonic() - start < timeout, "the service did not recover by itself"
        time.sleep(0.2)


def assert_unavailable(result: Timed, *, retry_after: bool = True) -> None:
    response = result.response
    assert response.status_code == 503, (response.request.method, response.url, response.text)
    assert response.headers["content-type"] == PROBLEM
    if retry_after:
        assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["status"] == 503
    assert body["request_id"] == response.headers["x-request-id"]
    assert result.seconds < FAIL_FAST_S, f"{response.url} took {result.seconds:.1f} s"


def new_model(slug: str, **extra: Any) -> dict[str, Any]:
    return {
        "slug": slug,
        "name": slug.title(),
        "family": "decoder-only",
        "objective": "causal-lm",
        "parameters": 1_000_000_000,
        **extra,
    }


PLAN = {
    "name": "faults",
    "parameters": 1_000_000_000,
    "tokens": 20_000_000_000,
    "gpus": 8,
    "strategy": "zero-3",
}
MEMORY = {"model": "llama-7b", "gpu": "a100-80gb", "gpus": 8, "strategy": "zero-3"}


REVALIDATE = {"Cache-Control": "no-cache"}


def requests_during_outage(etag: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Reads and writes: each needs the database (a revalidated catalogue read does)."""
    return [
        ("GET", "/v1/models", {"headers": REVALIDATE}),
        ("GET", "/v1/models/llama-7b", {"headers": REVALIDATE}),
        ("GET", "/v1/hardware", {"headers": {"Pragma": "no-cache"}}),
        ("GET", "/v1/plans", {}),
        ("POST", "/v1/models", {"json": new_model("outage-model"), "headers": AUTH}),
        (
            "PATCH",
            "/v1/models/llama-7b",
            {"json": {"year": 1999}, "headers": {**AUTH, "If-Match": etag}},
        ),
        ("POST", "/v1/plans", {"json": PLAN, "headers": AUTH}),
    ]


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.usefixtures("db_back")
@pytest.mark.parametrize("mode", ["immediate", "fast"])
def test_outage_fails_fast_and_the_service_recovers_by_itself(
    cluster: Cluster, service: ServiceProcess, mode: str
) -> None:
    with httpx.Client(base_url=service.url, timeout=30) as client:
        before = client.get("/v1/models/llama-7b")
        assert before.status_code == 200
        etag = before.headers["etag"]
        plans_before = client.get("/v1/plans").json()["total"]
        # Warm the pool, so that the outage hits pooled connections as well as new ones.
        warm = [client.get("/v1/models") for _ in range(5)]
        assert all(response.status_code == 200 for response in warm)

        cluster.stop(mode)

        for method, path, kwargs in requests_during_outage(etag):
            assert_unavailable(timed(client, method, path, **kwargs))
        ready = timed(client, "GET", "/readyz")
        assert_unavailable(ready, retry_after=False)  # a probe, read by a load balancer
        assert "cannot be reached" in ready.response.json()["detail"]
        assert client.get("/healthz").status_code == 200
        # Work that needs no database goes on, estimates and catalogue reads included: they
        # read the process's catalogue snapshot, which keeps its last good state through the
        # outage.
        quantized = client.post("/v1/quantize", json={"values": [0.5, -1.0], "target": "int8"})
        assert quantized.status_code == 200
        estimate = timed(client, "POST", "/v1/estimates/memory", json=MEMORY)
        assert estimate.response.status_code == 200
        assert estimate.seconds < 2.0
        cached = timed(client, "GET", "/v1/models/llama-7b")
        assert cached.response.status_code == 200
        assert cached.response.headers["etag"] == etag
        assert cached.seconds < 2.0
        assert client.get("/v1/models").json()["total"] >= 30

        # A burst of concurrent clients: none waits for a pool slot past the bound.
        results: list[Timed] = []

        def worker() -> None:
            with httpx.Client(base_url=service.url, timeout=30) as own:
                results.append(timed(own, "GET", "/v1/models", headers=REVALIDATE))

        threads = [threading.Thread(target=worker) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 20
        for result in results:
            assert_unavailable(result)

        cluster.start()
        wait_until_ready(service.url)

        # Recovered: the first requests after readiness all succeed (stale pooled connections
        # are pinged and replaced, never handed to a request).
        for _ in range(10):
            assert client.get("/v1/models", headers=REVALIDATE).status_code == 200
        after = client.get("/v1/models/llama-7b", headers=REVALIDATE)
        assert after.headers["etag"] == etag, "the PATCH refused during the outage was applied"
        assert after.json()["year"] != 1999
        assert client.get("/v1/models/outage-model").status_code == 404
        assert client.get("/v1/plans").json()["total"] == plans_before

        # Writes work again, and read back.
        slug = f"after-{mode}"
        created = client.post("/v1/models", json=new_model(slug), headers=AUTH)
        assert created.status_code == 201, created.text
        patched = client.patch(
            f"/v1/models/{slug}",
            json={"year": 2024},
            headers={**AUTH, "If-Match": created.headers["etag"]},
        )
        assert patched.status_code == 200, patched.text
        assert client.get(f"/v1/models/{slug}").json()["year"] == 2024


@pytest.mark.postgres
@pytest.mark.usefixtures("db_back")
def test_killed_connections_are_replaced_without_an_error(
    cluster: Cluster, service: ServiceProcess
) -> None:
    with httpx.Client(base_url=service.url, timeout=30) as client:
        for _ in range(5):
            assert client.get("/v1/models").status_code == 200
        killed = cluster.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = 'planner' AND pid <> pg_backend_pid()"
        )
        assert killed, "the service held no connection to kill"
        for _ in range(10):
            response = client.get("/v1/models")
            assert response.status_code == 200, response.text
        created = client.post("/v1/plans", json=PLAN, headers=AUTH)
        assert created.status_code == 201, created.text


def _slow_insert_trigger(cluster: Cluster, slug: str, seconds: float) -> Callable[[], None]:
    """Make inserting ``slug`` into ``model`` sleep; returns the undo."""
    cluster.sql(
        "CREATE OR REPLACE FUNCTION planner_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN IF NEW.slug = '{slug}' THEN PERFORM pg_sleep({seconds}); END IF; "
        "RETURN NEW; END $$",
        "planner",
    )
    cluster.sql(
        "CREATE TRIGGER planner_test_slow BEFORE INSERT ON model "
        "FOR EACH ROW EXECUTE FUNCTION planner_test_slow()",
        "planner",
    )

    def undo() -> None:
        cluster.ensure_running()
        cluster.sql("DROP TRIGGER IF EXISTS planner_test_slow ON model", "planner")
        cluster.sql("DROP FUNCTION IF EXISTS planner_test_slow()", "planner")

    return undo


def _wait_for_sleeping_backend(cluster: Cluster, database: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        rows = cluster.sql(
            "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = %s",
            params=(database,),
        )
        if rows:
            return
        assert time.monotonic() < deadline, "the write never reached the database"
        time.sleep(0.05)


@pytest.mark.postgres
@pytest.mark.usefixtures("db_back")
def test_a_write_cut_off_half_way_leaves_nothing(cluster: Cluster, service: ServiceProcess) -> None:
    slug = "cut-off-model"
    undo = _slow_insert_trigger(cluster, slug, 30)
    try:
        outcome: list[Timed] = []

        def write() -> None:
            with httpx.Client(base_url=service.url, timeout=60) as client:
                outcome.append(
                    timed(client, "POST", "/v1/models", json=new_model(slug), headers=AUTH)
                )

        writer = threading.Thread(target=write)
        writer.start()
        _wait_for_sleeping_backend(cluster, "planner")
        cluster.stop("immediate")
        writer.join(timeout=FAIL_FAST_S + 5)
        assert not writer.is_alive(), "the write hung after the database went away"
        assert_unavailable(outcome[0])
        cluster.start()
    finally:
        undo()
    wait_until_ready(service.url)
    with httpx.Client(base_url=service.url, timeout=30) as client:
        assert client.get(f"/v1/models/{slug}").status_code == 404
        again = client.post("/v1/models", json=new_model(slug), headers=AUTH)
        assert again.status_code == 201, "the refused write left a row (or a slug) behind"


def _seed_counts(cluster: Cluster, database: str) -> tuple[int, int]:
    models = cluster.sql("SELECT count(*) FROM model", database)[0][0]
    ledger = cluster.sql("SELECT count(*) FROM catalogue_seed WHERE kind = 'models'", database)
    return int(models), int(ledger[0][0])


@pytest.mark.postgres
@pytest.mark.parametrize("failure", ["constraint", "connection-killed"])
def test_the_seed_is_all_or_nothing(cluster: Cluster, failure: str) -> None:
    """Loading the catalogue writes ~60 rows in one transaction: a failure half-way, a check
    the database enforces or a connection killed under it, leaves none of them."""
    from sqlalchemy import create_engine

    from service.catalogue import load_seed
    from service.persistence import migrations

    database = f"seed_{failure.replace('-', '_')}"
    cluster.sql(f"CREATE DATABASE {database}")
    try:
        engine = create_engine(cluster.url(database))
        try:
            migrations.upgrade(engine)  # the schema only; the seed comes next, in the CLI
        finally:
            engine.dispose()
        entries = load_seed("models").entries
        victim = str(entries[len(entries) // 2]["slug"])
        if failure == "constraint":
            cluster.sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.slug = '{victim}' THEN RAISE check_violation USING MESSAGE = 'refused'; "
                "END IF; RETURN NEW; END $$",
                database,
            )
        else:
            cluster.sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.slug = '{victim}' THEN PERFORM pg_sleep(30); END IF; RETURN NEW; END $$",
                database,
            )
        cluster.sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON model FOR EACH ROW EXECUTE FUNCTION refuse()",
            database,
        )
        env = service_env(cluster.url(database))
        if failure == "constraint":
            failed = migrate(env, check=False)
        else:
            running = subprocess.Popen(
                [sys.executable, "-m", "service", "migrate"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            _wait_for_sleeping_backend(cluster, database)
            cluster.sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                params=(database,),
            )
            output, _ = running.communicate(timeout=60)
            failed = subprocess.CompletedProcess(running.args, running.returncode, output, "")
        assert failed.returncode != 0, failed.stdout
        assert _seed_counts(cluster, database) == (0, 0), "a failed seed left rows behind"

        cluster.sql("DROP TRIGGER refuse ON model", database)
        done = migrate(env)
        assert f": {len(entries)} inserted, 0 updated" in done.stdout
        assert _seed_counts(cluster, database) == (len(entries), len(entries))
    finally:
        cluster.sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@pytest.mark.postgres
@pytest.mark.usefixtures("service")  # the database is migrated
def test_an_exhausted_pool_answers_503_not_500(cluster: Cluster, tmp_path: Path) -> None:
    """A database too slow to hand back connections is unavailability, not a server bug."""
    env = service_env(
        cluster.url("planner"),
        PLANNER_DB_POOL_SIZE="1",
        PLANNER_DB_MAX_OVERFLOW="0",
        PLANNER_DB_POOL_TIMEOUT_S="1",
    )
    slug = "pool-hog"
    undo = _slow_insert_trigger(cluster, slug, 4)
    try:
        with running_service(env, tmp_path / "service.log") as small:
            hog: list[Timed] = []

            def write() -> None:
                with httpx.Client(base_url=small.url, timeout=60) as client:
                    hog.append(
                        timed(client, "POST", "/v1/models", json=new_model(slug), headers=AUTH)
                    )

            writer = threading.Thread(target=write)
            writer.start()
            _wait_for_sleeping_backend(cluster, "planner")
            with httpx.Client(base_url=small.url, timeout=30) as client:
                waited = timed(client, "GET", "/v1/plans")
                # A catalogue read needs no connection: the snapshot answers.
                assert client.get("/v1/models").status_code == 200
            writer.join(timeout=30)
            assert_unavailable(waited)
            assert waited.seconds < FAIL_FAST_S
            assert hog[0].response.status_code == 201, hog[0].response.text
    finally:
        undo()
