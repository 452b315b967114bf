"""Superset's metadata, brought up to date in ONE Superset process (each `superset …` CLI call
costs ≈ 4.5 s of app start): the equivalent of `superset db upgrade`, `superset init`,
`superset fab create-admin` (or, when the admin exists, `fab reset-password`, so the password
in data/superset/secrets.json always works), the two zh fixes, and the import of the bundle.

Runs with .venv-superset's python, started by bi/superset/setup.py (`make bi`, the browser
test) with SUPERSET_CONFIG_PATH / SUPERSET_META_URI / SUPERSET_SECRET_KEY set and

    SIYU_SUPERSET_ADMIN_PASSWORD   the admin's password
    SIYU_SUPERSET_BI_PASSWORD      the serving database's reader password (role siyu_bi)

    python bi/superset/bootstrap.py --host 127.0.0.1 --port 54329 [--db siyu] [--editable]

The import is Superset's ImportAssetsCommand — what `POST /api/v1/assets/import/` runs —
in one transaction (a broken bundle changes nothing) and overwriting every object of the
bundle, so a re-import converges: same rows, same ids. Afterwards objects marked
`is_managed_externally` whose uuid left the bundle are deleted (prune); objects made in the
UI are never touched. Prints one JSON line with the step timings.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bundle as siyu_bundle  # noqa: E402  (bi/superset/bundle.py, standard library only)

ADMIN_USER = "admin"

#: Superset 6.1's zh frontend pack ships ~1,460 fuzzy entries; these are on the login page
#: ("Sign in" → "Not In"). Patched into the venv's messages.json (idempotent).
ZH_FIXES = {
    "Sign in": "登录",
    "Enter your login and password below:": "请输入用户名和密码：",
    "Username:": "用户名：",
    "Password:": "密码：",
}


def patch_zh_language_pack() -> int:
    import superset

    path = (Path(superset.__file__).parent / "translations" / "zh" / "LC_MESSAGES" /
            "messages.json")
    pack = json.loads(path.read_text(encoding="utf-8"))
    messages = pack["locale_data"]["superset"]
    changed = {k: [v] for k, v in ZH_FIXES.items() if messages.get(k) != [v]}
    if changed:
        messages.update(changed)
        path.write_text(json.dumps(pack, ensure_ascii=False), encoding="utf-8")
    return len(changed)


def ensure_admin(password: str) -> str:
    from superset import security_manager as sm

    user = sm.find_user(username=ADMIN_USER)
    if user is None:
        role = sm.find_role(sm.auth_role_admin)
        user = sm.add_user(ADMIN_USER, "Siyu", "Admin", "admin@siyu.local", role,
                           password=password)
        if not user:
            raise RuntimeError("could not create the Superset admin")
        return "created"
    sm.reset_password(user.id, password)
    return "password set"


def public_language_pack() -> None:
    """Anonymous users may load the language pack, so the login page is Chinese too."""
    from superset import security_manager as sm
    from superset.extensions import db

    role = sm.find_role("Public") or sm.add_role("Public")
    pv = sm.find_permission_view_menu("can_language_pack", "Superset")
    if pv is not None and pv not in role.permissions:
        sm.add_permission_role(role, pv)
    db.session.commit()


def import_bundle(contents: dict[str, str], bi_password: str, prune: bool) -> list[str]:
    from superset.commands.exceptions import CommandInvalidError
    from superset.commands.importers.v1.assets import ImportAssetsCommand
    from superset.connectors.sqla.models import SqlaTable
    from superset.extensions import db
    from superset.models.dashboard import Dashboard
    from superset.models.slice import Slice

    try:
        ImportAssetsCommand(contents, passwords=siyu_bundle.passwords(bi_password)).run()
    except CommandInvalidError as exc:
        raise SystemExit(f"the bundle is invalid, nothing was imported: "
                         f"{exc.normalized_messages()}") from None
    pruned: list[str] = []
    if prune:
        keep = set(siyu_bundle.bundle_uuids(contents))
        for model in (Dashboard, Slice, SqlaTable):  # users of an object first
            for obj in db.session.query(model).filter(model.is_managed_externally.is_(True)):
                if str(obj.uuid) not in keep:
                    pruned.append(f"{model.__name__} {obj.uuid} {obj}")
                    db.session.delete(obj)
        db.session.commit()
    return pruned


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--db", default="siyu")
    p.add_argument("--bundle", type=Path, default=siyu_bundle.BUNDLE_DIR)
    p.add_argument("--editable", action="store_true",
                   help="import unmanaged (editable in the UI) and do not prune")
    p.add_argument("--import-only", action="store_true", help="skip upgrade/init/admin")
    args = p.parse_args()
    admin_pw = os.environ["SIYU_SUPERSET_ADMIN_PASSWORD"]
    bi_pw = os.environ["SIYU_SUPERSET_BI_PASSWORD"]
    contents = siyu_bundle.read_bundle(args.host, args.port, args.db, args.bundle,
                                       editable=args.editable)
    timings: dict[str, float] = {}
    t = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[step] = round(now - t, 2)
        t = now

    patched = patch_zh_language_pack()
    from superset.app import create_app

    app = create_app()
    lap("app")
    result: dict[str, object] = {"zh_strings_patched": patched}
    with app.app_context():
        from flask import g
        from superset import security_manager as sm

        if not args.import_only:
            from flask_migrate import upgrade

            upgrade()  # superset db upgrade
            logging.getLogger().setLevel(logging.WARNING)  # alembic's fileConfig set INFO
            lap("db_upgrade")
            from superset.extensions import appbuilder, db

            appbuilder.add_permissions(update_perms=True)  # superset init
            sm.sync_role_definitions()
            db.session.commit()
            lap("init")
            result["admin"] = ensure_admin(admin_pw)
            public_language_pack()
            lap("admin")
        g.user = sm.find_user(username=ADMIN_USER)
        if g.user is None:
            raise SystemExit("no Superset admin: run without --import-only first")
        result["pruned"] = import_bundle(contents, bi_pw, prune=not args.editable)
        result["files"] = len(contents)
        lap("import")
    result["seconds"] = timings
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
