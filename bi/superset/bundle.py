"""The dashboards as code: the YAML bundle in bi/superset/bundle/, in Superset's own
import/export format (IMPORT_VERSION 1.0.0), and the two ways it travels.

    python bi/superset/bundle.py zip OUT.zip [--host H] [--port P]
        the zip `POST /api/v1/assets/import/` takes (or Superset's UI import): every YAML file
        under one root folder, the serving database's host and port filled in; the password
        stays masked — pass it as `passwords={"databases/siyu_serving.yaml": "…"}`.
    python bi/superset/bundle.py export [--url http://127.0.0.1:8088]
        the running Superset's dashboards (with their charts, datasets and database) back into
        bi/superset/bundle/ after a change made in the UI (docs/bi.md): files keep their names
        (matched by uuid), the database URI gets its placeholders back, everything is marked
        managed externally again. Login from data/superset/secrets.json.

`make bi` does not need a zip: bi/superset/bootstrap.py reads the folder (`read_bundle`) and
runs Superset's ImportAssetsCommand in-process — the same command as the API, the only import
that also overwrites charts, datasets and the database (the dashboard import and
`superset import-dashboards` change dashboards only), in one transaction.

Layout (objects are matched by the fixed `uuid` in each file, never by name or id):

    metadata.yaml                   version 1.0.0, no `type` (both importers accept it)
    databases/siyu_serving.yaml     postgresql+psycopg2://siyu_bi:XXXXXXXXXX@${SIYU_SERVING_HOST}:${SIYU_SERVING_PORT}/${SIYU_SERVING_DB}
    datasets/siyu_serving/<table>.yaml   physical datasets over bi.<table>, columns and metrics
    charts/<name>.yaml              params (what the dashboard renders) and query_context
    dashboards/<slug>.yaml          layout (chartId placeholders; mapped by uuid at import)

Standard library only at import (it runs under both the project's and Superset's Python);
`export` needs PyYAML, which both environments have.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import string
import sys
import urllib.request
import zipfile
from http.cookiejar import CookieJar
from pathlib import Path

BUNDLE_DIR = Path(__file__).resolve().parent / "bundle"
#: the zip's root folder (Superset strips the first path component)
ZIP_ROOT = "siyu_bi"
DATABASE_FILE = "databases/siyu_serving.yaml"
MASK = "XXXXXXXXXX"
KINDS = ("databases", "datasets", "charts", "dashboards")
_MANAGED = re.compile(r"^is_managed_externally: true$", re.M)


def read_bundle(host: str, port: int, dbname: str = "siyu", bundle_dir: Path = BUNDLE_DIR,
                editable: bool = False) -> dict[str, str]:
    """`{"charts/x.yaml": text, …}` — paths as ImportAssetsCommand wants them (no root
    folder), the serving database's host, port and name filled into databases/*.yaml.
    `editable`: objects are not marked managed externally, so the UI lets you edit and save
    them (then `export`); `make bi` imports them managed (read-only in the UI)."""
    contents: dict[str, str] = {}
    for path in sorted(bundle_dir.rglob("*.yaml")):
        rel = path.relative_to(bundle_dir).as_posix()
        if any(part.startswith((".", "_")) for part in rel.split("/")):
            continue  # Superset ignores these too
        text = path.read_text(encoding="utf-8")
        if rel.startswith("databases/"):
            text = string.Template(text).substitute(
                SIYU_SERVING_HOST=host, SIYU_SERVING_PORT=str(port), SIYU_SERVING_DB=dbname)
        if editable:
            text = _MANAGED.sub("is_managed_externally: false", text)
        contents[rel] = text
    if "metadata.yaml" not in contents:
        raise FileNotFoundError(f"{bundle_dir} has no metadata.yaml: not a Superset bundle")
    return contents


def bundle_uuids(contents: dict[str, str]) -> dict[str, str]:
    """uuid → path of every object file (without PyYAML: the top-level `uuid:` line)."""
    out = {}
    for rel, text in contents.items():
        m = re.search(r"^uuid: ['\"]?([0-9a-f-]{36})", text, re.M)
        if m and rel != "metadata.yaml":
            out[m.group(1)] = rel
    return out


def passwords(bi_password: str) -> dict[str, str]:
    """The `passwords` field of an import: the serving database's reader password."""
    return {DATABASE_FILE: bi_password}


def build_zip(out: Path, host: str, port: int, dbname: str = "siyu",
              bundle_dir: Path = BUNDLE_DIR) -> Path:
    contents = read_bundle(host, port, dbname, bundle_dir)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for rel, text in contents.items():
            z.writestr(f"{ZIP_ROOT}/{rel}", text)
    return out


# ---------------------------------------------------------------------------------------
# export: the running Superset → bundle/
# ---------------------------------------------------------------------------------------

def dump_yaml(data: object) -> str:
    """The bundle's one YAML style (Chinese as it is, keys in Superset's order)."""
    import yaml

    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100,
                          default_flow_style=False)


def canonical(kind: str, data: dict) -> dict:
    """An object as the bundle keeps it, free of what differs per installation: database
    ids (datasource `0__table`, chartId 1…n in layout order; the importer maps by uuid),
    derived colour lists, column and metric order (by name); managed externally."""
    data = dict(data)
    data["is_managed_externally"] = True
    data["external_url"] = None
    if kind == "charts":
        params = data.get("params") or {}
        if "datasource" in params:
            params["datasource"] = "0__table"
        if data.get("query_context"):
            qc = json.loads(data["query_context"])
            qc["datasource"] = {**qc.get("datasource", {}), "id": 0}
            if isinstance(qc.get("form_data"), dict) and "datasource" in qc["form_data"]:
                qc["form_data"]["datasource"] = "0__table"
            data["query_context"] = json.dumps(qc, ensure_ascii=False, separators=(",", ":"))
    elif kind == "datasets":
        data["columns"] = sorted(data.get("columns") or [], key=lambda c: c["column_name"])
        data["metrics"] = sorted(data.get("metrics") or [], key=lambda m: m["metric_name"])
    elif kind == "dashboards":
        renumber: dict[int, int] = {}
        for node in (data.get("position") or {}).values():
            if isinstance(node, dict) and node.get("type") == "CHART":
                old = node["meta"]["chartId"]
                renumber[old] = renumber.get(old) or len(renumber) + 1
                node["meta"]["chartId"] = renumber[old]
        meta = data.get("metadata") or {}
        meta["color_scheme_domain"] = []
        unmapped = [k for k in ("timed_refresh_immune_slices", "expanded_slices",
                                "chart_configuration", "filter_scopes") if meta.get(k)]
        if unmapped:  # they hold chart ids too: a case for the next person who needs them
            raise ValueError(f"{data.get('slug')}: renumbering {unmapped} is not implemented")
        scope = (meta.get("global_chart_configuration") or {})
        if scope.get("chartsInScope"):
            scope["chartsInScope"] = sorted(renumber.get(i, i) for i in scope["chartsInScope"])
    return data


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def normalise(exported: dict[str, str], bundle_dir: Path = BUNDLE_DIR) -> dict[str, str]:
    """Exported files (paths without the zip root) → bundle files: existing names kept (by
    uuid), new ones named after their table/slug/uuid; the database URI with placeholders;
    every object managed externally."""
    import yaml

    known = bundle_uuids({p.relative_to(bundle_dir).as_posix(): p.read_text(encoding="utf-8")
                          for p in bundle_dir.rglob("*.yaml")}) if bundle_dir.exists() else {}
    out: dict[str, str] = {}
    for rel, text in exported.items():
        data = yaml.safe_load(text)
        if rel == "metadata.yaml":
            # the export's timestamp is noise in a diff: the bundle's own is kept
            mine = bundle_dir / "metadata.yaml"
            out[rel] = (mine.read_text(encoding="utf-8") if mine.exists()
                        else dump_yaml({"version": data["version"], "timestamp": data["timestamp"]}))
            continue
        kind = rel.split("/")[0]
        if kind not in KINDS:
            continue
        data = canonical(kind, data)
        if kind == "databases":
            data["sqlalchemy_uri"] = re.sub(
                r"@[^/@]+/[^/?]+", "@${SIYU_SERVING_HOST}:${SIYU_SERVING_PORT}/${SIYU_SERVING_DB}",
                data["sqlalchemy_uri"], count=1)
        uuid = str(data.get("uuid"))
        if uuid in known:
            target = known[uuid]
        elif kind == "datasets":
            target = f"datasets/siyu_serving/{data['table_name']}.yaml"
        elif kind == "dashboards":
            target = f"dashboards/{_slug(data.get('slug') or uuid)}.yaml"
        elif kind == "databases":
            target = DATABASE_FILE
        else:
            target = f"charts/{uuid}.yaml"
        out[target] = dump_yaml(data)
    return out


class _Client:
    """Login → CSRF token → requests with the session cookie (stdlib only). A POST without the
    token is redirected to the login page with status 200 — so every answer is checked."""

    def __init__(self, base: str, user: str, password: str):
        self.base = base.rstrip("/")
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        token = self._json("POST", "/api/v1/security/login", {
            "username": user, "password": password, "provider": "db", "refresh": False})
        self.headers = {"Authorization": f"Bearer {token['access_token']}", "Referer": self.base}
        self.headers["X-CSRFToken"] = self._json("GET", "/api/v1/security/csrf_token/")["result"]

    def _request(self, method: str, path: str, body: dict | None = None) -> bytes:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={**getattr(self, "headers", {}),
                                              "Content-Type": "application/json"})
        with self.opener.open(req, timeout=60) as resp:
            return resp.read()

    def _json(self, method: str, path: str, body: dict | None = None) -> dict:
        raw = self._request(method, path, body)
        try:
            return json.loads(raw)
        except ValueError:
            raise RuntimeError(f"{method} {path}: not JSON (login or CSRF refused?)") from None

    def get_zip(self, path: str) -> zipfile.ZipFile:
        raw = self._request("GET", path)
        if not raw.startswith(b"PK"):
            raise RuntimeError(f"GET {path}: not a zip")
        return zipfile.ZipFile(io.BytesIO(raw))


def export(base: str, user: str, password: str, bundle_dir: Path = BUNDLE_DIR) -> list[str]:
    """Write the running Superset's dashboards (and what they use) into `bundle_dir`;
    returns the files written."""
    client = _Client(base, user, password)
    ids = [d["id"] for d in client._json(
        "GET", "/api/v1/dashboard/?q=(page_size:100)")["result"]]
    if not ids:
        raise RuntimeError("no dashboards to export")
    with client.get_zip(f"/api/v1/dashboard/export/?q=!({','.join(map(str, ids))})") as z:
        exported = {name.split("/", 1)[1]: z.read(name).decode("utf-8")
                    for name in z.namelist() if name.endswith((".yaml", ".yml"))}
    files = normalise(exported, bundle_dir)
    for rel, text in files.items():
        path = bundle_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sorted(files)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bundle.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    z = sub.add_parser("zip", help="build the import zip from bi/superset/bundle/")
    z.add_argument("out", type=Path)
    z.add_argument("--host", default="127.0.0.1")
    z.add_argument("--port", type=int, default=54329)
    z.add_argument("--db", default="siyu")
    e = sub.add_parser("export", help="the running Superset's dashboards → bi/superset/bundle/")
    e.add_argument("--url", default="http://127.0.0.1:8088")
    e.add_argument("--secrets", type=Path,
                   default=Path(__file__).resolve().parents[2] / "data" / "superset" /
                   "secrets.json")
    args = p.parse_args(argv)
    if args.command == "zip":
        print(build_zip(args.out, args.host, args.port, args.db))
        return 0
    secrets = json.loads(args.secrets.read_text(encoding="utf-8"))
    for rel in export(args.url, secrets["admin_user"], secrets["admin_password"]):
        print(rel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
