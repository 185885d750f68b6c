"""Re-download the dashboard's vendored browser scripts from the npm registry and check them.

The files under handlers/web/dashboard/static/vendor/ are committed (users need no Node and the
page loads nothing from another host); this script shows where they came from and rebuilds them
byte for byte. Each tarball is checked against the registry's sha512 integrity before use.

    python scripts/fetch_vendor.py            # rewrite the vendored files
    python scripts/fetch_vendor.py --check    # exit 1 if a committed file differs from its source
    python scripts/fetch_vendor.py --offline  # no network: compare with the sha256 recorded below
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "handlers" / "web" / "dashboard" / "static" / "vendor"
REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True, slots=True)
class Package:
    name: str
    version: str
    integrity: str  # the registry's `dist.integrity` (sha512, base64)
    files: dict[str, str]  # member of the tarball -> file name under VENDOR
    notice: tuple[str, str] | None = None  # (file name, text) written beside the files

    @property
    def tarball(self) -> str:
        base = self.name.rsplit("/", 1)[-1]
        return f"{REGISTRY}/{self.name}/-/{base}-{self.version}.tgz"


PACKAGES = (
    Package(
        name="lightweight-charts",
        version="5.3.0",
        integrity="sha512-w16fu2/FteUkIJdgc9G2tOCKs1fwFSqnqF8+kMgHGv0uGIfcfpEJhziSaQbML1yrkbeg4nQXV3msjmhBzhLNhw==",
        files={
            "package/dist/lightweight-charts.standalone.production.js": (
                "lightweight-charts.standalone.production.js"
            ),
            "package/LICENSE": "lightweight-charts.LICENSE",
        },
        # The upstream NOTICE (Apache-2.0 section 4d) is not in the npm tarball.
        notice=(
            "lightweight-charts.NOTICE",
            "TradingView Lightweight Charts\n"
            "Copyright (c) 2023 TradingView, Inc. https://www.tradingview.com/\n",
        ),
    ),
    Package(
        name="@twa-dev/sdk",
        version="8.0.2",
        integrity="sha512-Pp5GxnxP2blboVZFiM9aWjs4cb8IpW3x2jP3kLOMvIqy0jzNUTuFHkwHtx+zEvh/UcF2F+wmS8G6ebIA0XPXcg==",
        # src/ holds Telegram's telegram-web-app.js as Telegram publishes it (a plain script that
        # sets window.Telegram.WebApp); dist/ has the same file passed through tsc.
        files={
            "package/src/telegram-web-apps.js": "telegram-web-app.js",
            "package/LICENSE": "telegram-web-app.LICENSE",
        },
        notice=(
            "telegram-web-app.NOTICE",
            "telegram-web-app.js is Telegram's Mini App script\n"
            "(https://core.telegram.org/bots/webapps), which Telegram publishes for every\n"
            "Mini App to include; the file has no licence header of its own. This copy is\n"
            "src/telegram-web-apps.js of the npm package @twa-dev/sdk 8.0.2, MIT License,\n"
            "Copyright (c) 2022 Artur Stambultsian (telegram-web-app.LICENSE).\n"
            "Shipped unchanged so the page loads nothing from telegram.org at run time.\n",
        ),
    ),
)


# sha256 of each vendored file as fetch_vendor.py writes it (for checks without the network).
VENDORED_SHA256 = {
    "lightweight-charts.standalone.production.js": (
        "338a625ece52c5b85fb026e222dad5d0f365f745060afbfae96bda91636142e9"
    ),
    "lightweight-charts.LICENSE": (
        "70c9d5382506dd184465425c08a99ad9bd6d9ac1313c252968ba0b585e5ef823"
    ),
    "lightweight-charts.NOTICE": "8f464bdcdfa47ccfb28f2d1c9baab9051ee952b22d9d07170502847a4ac120f8",
    "telegram-web-app.js": "f4a03f7df8841ff5f232ad3a7416033df85594a23ce8b8cab64a82a9dad960d5",
    "telegram-web-app.LICENSE": "7ecff698f586b90c9e575dda18b02bab00831f64ed40579b157d5f96d90a1ece",
    "telegram-web-app.NOTICE": "d1b264aa1343eef72bdfb0b5ae29c3f0730945628d66be10c0bafae548be0041",
}


def offline_problems() -> list[str]:
    """Vendored files missing or not as recorded in VENDORED_SHA256 (no network needed)."""
    problems = []
    for name, expected in VENDORED_SHA256.items():
        path = VENDOR / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            problems.append(f"{name}: differs from the recorded sha256")
    return problems


def download(package: Package) -> bytes:
    with urllib.request.urlopen(package.tarball, timeout=60) as response:
        data = response.read()
    algorithm, _, expected = package.integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        found = f"{algorithm}-{actual}"
        raise SystemExit(f"{package.name}@{package.version}: integrity mismatch ({found})")
    return data


def contents(package: Package, tarball: bytes) -> dict[str, bytes]:
    """File name under VENDOR -> the bytes it should hold."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member, target in package.files.items():
            extracted = archive.extractfile(member)
            if extracted is None:
                raise SystemExit(f"{package.name}@{package.version}: {member} is not a file")
            out[target] = extracted.read()
    if package.notice:
        name, text = package.notice
        out[name] = text.encode()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--offline", action="store_true", help="compare with the recorded sha256")
    args = parser.parse_args(argv)
    if args.offline:
        problems = offline_problems()
        print("\n".join(problems) or "vendored files match their recorded sha256")
        return 1 if problems else 0
    stale: list[str] = []
    VENDOR.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        for name, data in contents(package, download(package)).items():
            path = VENDOR / name
            if args.check:
                if not path.is_file() or path.read_bytes() != data:
                    stale.append(name)
            else:
                path.write_bytes(data)
                print(f"{package.name}@{package.version} -> {path.relative_to(ROOT)}")
            if hashlib.sha256(data).hexdigest() != VENDORED_SHA256.get(name):
                print(f"note: {name} differs from VENDORED_SHA256: update it", file=sys.stderr)
    if stale:
        print("differs from the registry's package: " + ", ".join(stale), file=sys.stderr)
        return 1
    if args.check:
        print("vendored files match their packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
