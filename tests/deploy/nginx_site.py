"""deploy/nginx.conf run for real on loopback: by tests/deploy/test_nginx_purchase.py and by
bench/rush.py (the rush goes through the same proxy and page cache as a live shop)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from store.web import STATIC_DIR

NGINX = "/usr/sbin/nginx"
SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"


def self_signed(folder: Path, openssl: str = "openssl") -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, valid for two days."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def site_config(
    *,
    app_port: int,
    http_port: int,
    https_port: int,
    cert: Path,
    key: Path,
    media: Path,
    webroot: Path,
    extra: dict[str, str] | None = None,
) -> str:
    """deploy/nginx.conf with this machine's ports and paths in place of the documented ones (and
    `extra` replacements of the caller's own)."""
    text = SITE.read_text()
    replacements = {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "/etc/letsencrypt/live/shop.example.org/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/shop.example.org/privkey.pem": str(key),
        "/srv/storefront/static/": f"{STATIC_DIR}/",
        "/srv/storefront/var/media/": f"{media}/",
        "/var/www/letsencrypt": str(webroot),
        "server_name shop.example.org;": "server_name 127.0.0.1;",
        "/var/log/nginx/storefront-access.log": str(media.parent / "nginx-access.log"),
        "/var/cache/nginx/storefront": str(media.parent / "nginx-cache"),
        **(extra or {}),
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/nginx.conf no longer has {old!r}; update tests/deploy/nginx_site.py"
        text = text.replace(old, new)
    return "\n".join(line for line in text.splitlines() if "[::]" not in line)  # loopback only


def write_config(prefix: Path, site: str, worker_processes: str = "1") -> list[str]:
    """nginx.conf for a private nginx under `prefix` (its logs and temporary files there too) that
    includes `site`; returns the command line that runs it (add `-t` to check, or `-g "daemon off;"`)."""
    temp = prefix / "temp"
    for sub in ("logs", "temp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    (prefix / "site.conf").write_text(site)
    user = "user root;" if os.geteuid() == 0 else ""  # as root, workers would drop to nobody otherwise
    (prefix / "nginx.conf").write_text(f"""
{user}
worker_processes {worker_processes};
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix}/logs/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {prefix}/site.conf;
}}
""")
    return [
        NGINX,
        "-p",
        str(prefix),
        "-e",
        str(prefix / "logs" / "error.log"),
        "-c",
        str(prefix / "nginx.conf"),
    ]


def configure(
    prefix: Path,
    *,
    app_port: int,
    http_port: int,
    https_port: int,
    media: Path,
    openssl: str = "openssl",
    worker_processes: str = "1",
    extra: dict[str, str] | None = None,
) -> list[str]:
    """A private nginx under `prefix` running deploy/nginx.conf on loopback (a certificate made for
    it), checked with `nginx -t`; returns the command line that runs it (add `-g "daemon off;"`)."""
    webroot = prefix / "webroot"
    webroot.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed(prefix, openssl)
    site = site_config(
        app_port=app_port,
        http_port=http_port,
        https_port=https_port,
        cert=cert,
        key=key,
        media=media,
        webroot=webroot,
        extra=extra,
    )
    args = write_config(prefix, site, worker_processes)
    tested = subprocess.run([*args, "-t"], capture_output=True, text=True, timeout=30)
    if tested.returncode != 0:
        raise RuntimeError(f"nginx -t refused the configuration: {tested.stderr}")
    return args
