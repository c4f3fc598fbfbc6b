"""The repository's shape and the house rules that a test can hold."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import arbitral
from tests.conftest import REPO_ROOT

FRAMEWORKS = ("piccolo", "litestar", "boto3", "botocore", "dramatiq", "asyncpg", "weasyprint")


def test_top_level_layout() -> None:
    for name in ("platform", "tenants", "rules", "templates", "infra", "tests"):
        assert (REPO_ROOT / name).is_dir(), name
    for name in ("pyproject.toml", "README.md", ".ci/run"):
        assert (REPO_ROOT / name).is_file(), name
    assert (REPO_ROOT / "platform" / "arbitral" / "__init__.py").is_file()


def test_platform_is_not_a_package_and_the_stdlib_module_still_works() -> None:
    assert not (REPO_ROOT / "platform" / "__init__.py").exists()
    # From the repository root, where a careless package would shadow the stdlib module.
    out = subprocess.run(
        [sys.executable, "-c", "import platform; print(platform.system(), platform.__file__)"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0] == "Linux"
    assert not out[1].startswith(str(REPO_ROOT))


def _modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(arbitral.__path__, prefix="arbitral.")
        if ".db.migrations." not in info.name and info.name != "arbitral.__main__"
    )


def test_nothing_reads_the_environment_at_import_time() -> None:
    """Import every module with os.environ and os.getenv booby-trapped."""
    modules = _modules()
    assert len(modules) > 20
    script = f"""
import os, sys
PACKAGE = os.path.join({str(REPO_ROOT / "platform" / "arbitral")!r}, '')
class Trap(dict):
    def _caller(self):
        frame = sys._getframe(2)
        while frame and frame.f_code.co_filename == os.__file__:
            frame = frame.f_back
        return frame.f_code.co_filename if frame else ''
    def get(self, *args, **kwargs):
        if self._caller().startswith(PACKAGE):
            raise SystemExit('environment read at import time by ' + self._caller())
        return dict.get(self, *args, **kwargs)
    def __getitem__(self, key):
        if self._caller().startswith(PACKAGE):
            raise SystemExit('environment read at import time by ' + self._caller())
        return dict.__getitem__(self, key)
os.environ = Trap(os.environ)
for name in {modules!r}:
    __import__(name)
print('ok')
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("ok")


def framework_imports(source: str) -> list[str]:
    """The framework modules (ORM, web, broker, cloud SDK) that ``source`` imports."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found.extend(name for name in names if name.split(".")[0] in FRAMEWORKS)
    return found


def test_the_framework_import_check_sees_every_form() -> None:
    source = (
        "import piccolo.table\n"
        "from litestar import get\n"
        "def f():\n    import boto3\n"
        "from decimal import Decimal\n"
        "from .tables import Case\n"
    )
    assert framework_imports(source) == ["piccolo.table", "litestar", "boto3"]


PURE_RULE_MODULES = [
    Path(arbitral.__file__).parent / "rules" / f"{name}.py"
    for name in ("calendar", "checker", "claims", "fees", "loans", "model", "parties")
]


def test_domain_modules_import_no_framework() -> None:
    """``domain.py`` (and the rules' pure modules) are plain Python: no ORM, web
    framework, broker or cloud SDK."""
    package = Path(arbitral.__file__).parent
    assert all(path.exists() for path in PURE_RULE_MODULES)
    offenders = {
        str(path.relative_to(package)): framework_imports(path.read_text())
        for path in [*package.rglob("domain.py"), *PURE_RULE_MODULES]
    }
    assert {path: found for path, found in offenders.items() if found} == {}
