"""docker-compose.yml (SPEC §11, issue 16): the default is one container on SQLite; the `scale`
profile runs PostgreSQL, Redis, two or more `serve` replicas and a reverse proxy in front of them,
whose X-Forwarded-For the replicas believe, so an IP allowlist still sees the real sender.

No container engine runs here, so the file is read as Compose reads it (YAML, `${VAR:-default}`
with its defaults) and checked for what a deployment relies on. The proxy's configuration is then
run for real where Caddy is installed: the real Caddyfile (upstream names pointed at two local
`tradebot serve` processes on PostgreSQL and Redis) in front of them, with the sender's address
checked in the database and one replica killed mid-run.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml

from tests.processes import (
    REDIS_URL,
    distinct_ports,
    migrated_postgres,
    psql,
    redis_or_skip,
    run_cli,
    services_required,
    stop_processes,
    tail,
)
from tests.waiting import until

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DEPLOY_README = ROOT / "deploy" / "README.md"
PROFILE = "scale"
CADDYFILE_IN_IMAGE = "/etc/caddy/Caddyfile"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, $VAR; $$ is a $
_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """A value as Compose substitutes it, with `env` (none by default: every default applies)."""
    env = env or {}

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        if op in (":-", "-"):
            return value if value or (op == "-" and value is not None) else arg
        if op in (":+", "+"):
            return arg if value else ""
        return value or ""

    return _VARIABLE.sub(substitute, text)


def variables(node: Any) -> set[str]:
    """Every variable a Compose file (or part of it) reads."""
    if isinstance(node, dict):
        return set().union(*(variables(k) | variables(v) for k, v in node.items()))
    if isinstance(node, list):
        return set().union(*(variables(item) for item in node))
    if isinstance(node, str):
        return {
            m.group("braced") or m.group("bare")
            for m in _VARIABLE.finditer(node)
            if m.group(0) != "$$"
        }
    return set()


def resolved(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: resolved(v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolved(item) for item in node]
    return interpolate(node) if isinstance(node, str) else node


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def command_text(service: dict[str, Any]) -> str:
    command = service.get("command") or ""
    return " ".join(command) if isinstance(command, list) else command


def in_profile(service: dict[str, Any]) -> bool:
    return PROFILE in (service.get("profiles") or [])


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return deps


def started_with(services: dict[str, Any], name: str) -> set[str]:
    """What `docker compose up NAME` starts: NAME and, transitively, what it depends on."""
    todo, seen = [name], set()
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(depends_on(services[current]))
    return seen


def networks_of(service: dict[str, Any]) -> set[str]:
    networks = service.get("networks") or ["default"]
    return set(networks)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return resolved(load_compose())


@pytest.fixture(scope="module")
def scale(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if in_profile(s)}


@pytest.fixture(scope="module")
def replicas(scale: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in scale.items() if "tradebot serve" in command_text(s)}


@pytest.fixture(scope="module")
def proxy(scale: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    proxies = [(name, s) for name, s in scale.items() if s.get("image", "").startswith("caddy:")]
    assert len(proxies) == 1, f"one Caddy service in the {PROFILE} profile: {proxies}"
    return proxies[0]


def service_with_image(scale: dict[str, dict[str, Any]], image: str) -> str:
    names = [name for name, s in scale.items() if s.get("image", "").startswith(f"{image}:")]
    assert len(names) == 1, f"one {image} service in the {PROFILE} profile, found {names}"
    return names[0]


# ---------------------------------------------------------------- the default


def test_without_a_profile_one_container_runs_on_sqlite(compose: dict[str, Any]) -> None:
    default = {name: s for name, s in compose["services"].items() if not s.get("profiles")}
    assert list(default) == ["tradebot"]
    single = default["tradebot"]
    assert "TRADEBOT_DATABASE_URL" not in environment(single)  # the image's SQLite default
    assert "tradebot-data:/app/data" in single["volumes"]
    # Only on the host's loopback, for a reverse proxy on the same host.
    assert single["ports"] == ["127.0.0.1:8080:8080"]


# ---------------------------------------------------------------- the scale profile


def test_scale_profile_runs_postgres_redis_a_proxy_and_two_serve_replicas(
    scale: dict[str, dict[str, Any]],
    replicas: dict[str, dict[str, Any]],
    proxy: tuple[str, dict[str, Any]],
) -> None:
    postgres = service_with_image(scale, "postgres")
    redis = service_with_image(scale, "redis")
    assert len(replicas) >= 2
    assert set(scale) == {postgres, redis, proxy[0], *replicas}
    for name, replica in replicas.items():
        command = command_text(replica)
        # Every replica migrates (safe at once: `tradebot migrate` takes a lock) and may lead.
        assert re.search(r"tradebot migrate && exec tradebot serve$", command), (name, command)
        assert "--no-monitor" not in command, name
        for service in (postgres, redis):
            assert depends_on(replica)[service]["condition"] == "service_healthy", (name, service)
        assert "healthcheck" in scale[postgres] and "healthcheck" in scale[redis]


def test_replicas_share_one_postgres_database_and_one_redis(
    scale: dict[str, dict[str, Any]], replicas: dict[str, dict[str, Any]]
) -> None:
    postgres = service_with_image(scale, "postgres")
    redis = service_with_image(scale, "redis")
    db = environment(scale[postgres])
    urls = set()
    for name, replica in replicas.items():
        env = environment(replica)
        database = urlsplit(env["TRADEBOT_DATABASE_URL"])
        assert database.scheme == "postgres", name
        assert database.hostname == postgres, name
        assert (database.username, database.password, database.path) == (
            db["POSTGRES_USER"], db["POSTGRES_PASSWORD"], f"/{db['POSTGRES_DB']}"
        ), name  # fmt: skip
        cache = urlsplit(env["TRADEBOT_REDIS_URL"])
        assert (cache.scheme, cache.hostname) == ("redis", redis), name
        # Reachable: the replica shares a network with each of them.
        for service in (postgres, redis):
            assert networks_of(replica) & networks_of(scale[service]), (name, service)
        urls.add((env["TRADEBOT_DATABASE_URL"], env["TRADEBOT_REDIS_URL"]))
    assert len(urls) == 1  # one product: the same database and Redis for all


def test_only_the_proxy_publishes_ports_and_starting_it_starts_the_whole_profile(
    compose: dict[str, Any], scale: dict[str, dict[str, Any]], proxy: tuple[str, dict[str, Any]]
) -> None:
    name, service = proxy
    assert [n for n, s in scale.items() if s.get("ports")] == [name]
    published = {str(port).rsplit(":", 2)[-2] for port in service["ports"]}
    assert published == {"80", "443"}  # TradingView delivers webhooks to these only
    # `docker compose --profile scale up proxy` (deploy/README.md) starts every scale service,
    # and not the single SQLite container, which would be a second product.
    assert started_with(compose["services"], name) == set(scale)


def test_replicas_believe_x_forwarded_for_from_the_proxys_network_only(
    compose: dict[str, Any],
    scale: dict[str, dict[str, Any]],
    replicas: dict[str, dict[str, Any]],
    proxy: tuple[str, dict[str, Any]],
) -> None:
    name, service = proxy
    subnets = []
    for network in networks_of(service):
        config = compose["networks"][network]["ipam"]["config"]
        subnets += [ipaddress.ip_network(item["subnet"]) for item in config]
    assert subnets, "the proxy's network has a fixed subnet, so that it can be trusted"
    on_edge = {n for n, s in scale.items() if networks_of(s) & networks_of(service)}
    # Nothing else sits in the trusted network: PostgreSQL and Redis are not in it.
    assert on_edge == {name, *replicas}
    for replica_name, replica in replicas.items():
        text = environment(replica)["TRADEBOT_TRUSTED_PROXIES"]
        trusted = [ipaddress.ip_network(item.strip()) for item in text.split(",") if item.strip()]
        for subnet in subnets:
            assert any(subnet.subnet_of(t) for t in trusted), (replica_name, subnet, trusted)
        for network in trusted:
            assert any(network.subnet_of(s) for s in subnets), f"{network} trusts too much"
        assert networks_of(replica) & networks_of(service), replica_name


def test_every_variable_the_compose_file_reads_is_documented() -> None:
    used = variables(load_compose())
    assert {"POSTGRES_PASSWORD", "SITE_ADDRESS", "EDGE_SUBNET"} <= used
    readme = DEPLOY_README.read_text()
    header = "\n".join(line for line in COMPOSE.read_text().splitlines() if line.startswith("#"))
    for name in sorted(used):
        assert f"`{name}`" in readme, f"{name} is not in deploy/README.md"
        assert re.search(rf"^#\s+{name}\s", header, re.M), f"{name} is not in the file's header"


# ---------------------------------------------------------------- the proxy's configuration


def caddyfile_of(proxy: tuple[str, dict[str, Any]]) -> Path:
    mounts = [v for v in proxy[1]["volumes"] if v.split(":")[1] == CADDYFILE_IN_IMAGE]
    assert len(mounts) == 1, mounts
    source = (COMPOSE.parent / mounts[0].split(":")[0]).resolve()
    assert source.is_file(), source
    return source


def caddy_directives(text: str) -> list[list[str]]:
    """The Caddyfile's lines as tokens, comments dropped (it quotes no `#`)."""
    lines = (line.split("#", 1)[0].split() for line in text.splitlines())
    return [line for line in lines if line]


def test_proxy_balances_over_every_replica_and_sets_the_senders_headers(
    replicas: dict[str, dict[str, Any]], proxy: tuple[str, dict[str, Any]]
) -> None:
    caddyfile = caddyfile_of(proxy)
    lines = caddy_directives(caddyfile.read_text())
    upstreams = [line[1:-1] for line in lines if line[0] == "reverse_proxy"]
    assert len(upstreams) == 1, upstreams
    port = re.search(r"TRADEBOT_PORT=(\d+)", (ROOT / "Dockerfile").read_text())
    assert port is not None
    assert sorted(upstreams[0]) == sorted(f"{name}:{port.group(1)}" for name in replicas)
    # X-Forwarded-For: Caddy sets it to the address it saw and drops the client's own, unless a
    # global `trusted_proxies` says to keep it, or a header_up changes it.
    assert not any("trusted_proxies" in line for line in lines)
    assert not any(
        line[0] in ("header_up", "request_header") and "x-forwarded-for" in line[1].lower()
        for line in lines
    )
    # The client-certificate verdict the replicas believe from the proxy: always overwritten.
    assert ["header_up", "X-Client-Verify", "{client_verify}"] in lines
    assert ["request_header", "-X-Client-S-DN"] in lines
    assert ["health_uri", "/health"] in lines
    assert ["handle", "/metrics", "{"] in lines and ["respond", "403"] in lines
    # Every {$VAR} it reads comes from the proxy's environment.
    for name in re.findall(r"\{\$([A-Za-z_][A-Za-z0-9_]*)", caddyfile.read_text()):
        assert name in environment(proxy[1]), name


# ---------------------------------------------------------------- the proxy, running

CADDY = shutil.which("caddy")
READY_DEADLINE = 180.0  # seconds for a process to answer on a loaded machine
SENDER = "127.0.0.2"  # the allowed sender (loopback has every 127.x address)
STRANGER = "127.0.0.3"


def _caddy_version() -> tuple[int, ...]:
    assert CADDY is not None
    out = subprocess.run([CADDY, "version"], capture_output=True, text=True, check=True).stdout
    found = re.match(r"v?(\d+)\.(\d+)\.(\d+)", out.strip())
    assert found is not None, out
    return tuple(int(part) for part in found.groups())


async def _healthy(http: aiohttp.ClientSession, url: str, process: Any, log: Path) -> bool:
    if process.returncode is not None:
        raise AssertionError(f"{url}: the process exited:\n{tail(log)}")
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


@pytest.fixture
async def behind_caddy(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """Two `serve` replicas on PostgreSQL + Redis behind Caddy with deploy/Caddyfile.compose."""
    if CADDY is None:
        why = "Caddy is not installed (apt-get install caddy): the proxy is not run"
        if services_required():  # CI installs it (.ci/run)
            pytest.fail(why)
        pytest.skip(why)
    client = await redis_or_skip()
    await client.aclose()
    async with migrated_postgres("tradebot_compose", tmp_path) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
        env.update(
            TRADEBOT_DATABASE_URL=url,
            TRADEBOT_REDIS_URL=REDIS_URL,
            TRADEBOT_HOST="127.0.0.1",
            TRADEBOT_TRUSTED_PROXIES="127.0.0.1",  # where Caddy connects from here
            TRADEBOT_WEBHOOK_RATE_PER_IP="1000",
            TRADEBOT_WEBHOOK_BURST_PER_IP="1000",
        )
        out = await run_cli(
            env, tmp_path, "bots", "add", "--name", "guarded", "--symbol", "BTCUSDT",
            "--strategy", "signal", "--qty", "1", "--direction", "both", "--max-entries", "100",
            "--max-alerts-per-minute", "0", "--allow-ip", SENDER, "--json",
        )  # fmt: skip
        bot = json.loads(out)
        *replica_ports, proxy_port = distinct_ports(3)
        compose = resolved(load_compose())
        names = [n for n, s in compose["services"].items() if "tradebot serve" in command_text(s)]
        text = (ROOT / "deploy" / "Caddyfile.compose").read_text()
        for name, port in zip(names, replica_ports, strict=True):
            assert f"{name}:8080" in text
            text = text.replace(f"{name}:8080", f"127.0.0.1:{port}")
        if _caddy_version() < (2, 6, 4):  # Debian 12's Caddy: the option's older name
            text = text.replace("request_buffers 64KiB", "buffer_requests")
        caddyfile = tmp_path / "Caddyfile"
        # The real file, with two local replicas for the service names and no admin endpoint
        # (its default port may be taken); nothing else changed but the name above.
        caddyfile.write_text("{\n\tadmin off\n}\n\n" + text)
        processes: list[tuple[Any, Path]] = []
        try:
            for index, port in enumerate(replica_ports):
                log = tmp_path / f"replica{index}.log"
                with log.open("wb") as sink:
                    process = await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "bot", "serve", cwd=tmp_path,
                        env={**env, "TRADEBOT_PORT": str(port)},
                        stdout=sink, stderr=asyncio.subprocess.STDOUT,
                    )  # fmt: skip
                processes.append((process, log))
            bases = [f"http://127.0.0.1:{port}" for port in replica_ports]
            proxy = f"http://127.0.0.1:{proxy_port}"
            async with aiohttp.ClientSession() as http:
                for base, (process, log) in zip(bases, processes, strict=True):
                    await until(
                        lambda b=base, p=process, g=log: _healthy(http, f"{b}/health", p, g),
                        deadline=READY_DEADLINE,
                        what=f"{base} healthy",
                    )
                # Caddy checks its upstreams as it starts: both replicas are up by then.
                caddy_env = {
                    **{k: v for k, v in os.environ.items() if not k.startswith("CADDY")},
                    "SITE_ADDRESS": f"http://127.0.0.1:{proxy_port}",
                    "HOME": str(tmp_path),
                    "XDG_DATA_HOME": str(tmp_path / "caddy-data"),
                    "XDG_CONFIG_HOME": str(tmp_path / "caddy-config"),
                }
                caddy_log = tmp_path / "caddy.log"
                with caddy_log.open("wb") as sink:
                    caddy = await asyncio.create_subprocess_exec(
                        CADDY, "run", "--config", str(caddyfile), "--adapter", "caddyfile",
                        env=caddy_env, stdout=sink, stderr=asyncio.subprocess.STDOUT,
                    )  # fmt: skip
                processes.append((caddy, caddy_log))
                await until(
                    lambda: _healthy(http, f"{proxy}/health", caddy, caddy_log),
                    deadline=READY_DEADLINE,
                    what="the proxy answering /health with 200",
                )
            yield {
                "url": url, "bot": bot, "proxy": proxy, "bases": bases, "replicas": processes[:2]
            }  # fmt: skip
        finally:
            await stop_processes(process for process, _ in processes)


def _from(address: str) -> aiohttp.ClientSession:
    """A client whose requests come from `address`."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


async def _alert(
    http: aiohttp.ClientSession,
    world: dict[str, Any],
    alert_id: str,
    action: str,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"action": action, "symbol": "BTCUSDT", "price": "100", "qty": "1", "id": alert_id,
            "time": now}  # fmt: skip
    url = f"{world['proxy']}/webhook/{world['bot']['webhook_key']}"
    async with http.post(url, data=json.dumps(body), headers=headers or {}) as response:
        return response.status, await response.json()


async def _alerts_counted(http: aiohttp.ClientSession, base: str) -> float:
    """The alerts one replica answered, from its own /metrics."""
    async with http.get(f"{base}/metrics") as response:
        text = await response.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("tradebot_alerts_total{")
    )


@pytest.mark.services
async def test_caddy_balances_over_the_replicas_and_the_allowlist_sees_the_real_sender(
    behind_caddy: dict[str, Any],
) -> None:
    world = behind_caddy
    url = world["url"]
    async with (
        _from(SENDER) as sender,
        _from(STRANGER) as stranger,
        aiohttp.ClientSession() as local,
    ):
        answers = [
            await _alert(sender, world, f"compose-{i}", "buy" if i % 2 == 0 else "sell")
            for i in range(6)
        ]
        assert all(status in (200, 202) for status, _ in answers), answers
        # Round robin: each replica answered some of them.
        for base in world["bases"]:
            assert await _alerts_counted(local, base) > 0, base
        # The client's own X-Forwarded-For is not passed on: the allowlist sees the stranger.
        status, payload = await _alert(
            stranger, world, "compose-forged", "buy", {"X-Forwarded-For": SENDER}
        )
        assert status == 403 and STRANGER in payload["reason"], payload

        async def one_leader() -> bool:
            roles = []
            for base in world["bases"]:
                async with local.get(f"{base}/health") as response:
                    assert response.status == 200  # a standby is healthy too
                    roles.append((await response.json())["role"])
            return sorted(roles) == ["leader", "standby"]

        await until(one_leader, deadline=READY_DEADLINE, what="one leader and one standby")

        # One replica dies: the proxy sends everything to the other, nothing is lost or doubled.
        dead, _ = world["replicas"][0]
        dead.kill()
        await dead.wait()
        answers = [
            await _alert(sender, world, f"compose-after-{i}", "buy" if i % 2 == 0 else "sell")
            for i in range(6)
        ]
        assert all(status in (200, 202) for status, _ in answers), answers

    async def settled() -> bool:
        return psql(url, "SELECT count(*) FROM webhook_logs WHERE finished_at IS NULL") == "0"

    await until(settled, deadline=READY_DEADLINE, what="every alert finished")
    senders = psql(
        url,
        "SELECT remote_ip || ' ' || status || ' ' || count(*) FROM webhook_logs "
        "GROUP BY remote_ip, status ORDER BY remote_ip, status",
    ).splitlines()
    assert senders == [f"{SENDER} executed 12", f"{STRANGER} refused 1"]
    orders = psql(
        url,
        "SELECT count(*), count(DISTINCT o.webhook_log_id) FROM orders o "
        "JOIN webhook_logs w ON o.webhook_log_id = w.id WHERE w.alert_id LIKE 'compose-%'",
    )
    assert orders == "12|12"
