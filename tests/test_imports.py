"""Every module of every package imports: a smoke test that catches a broken import anywhere."""

import importlib
import pkgutil

import pytest

PACKAGES = ("dragnet", "extract", "crawlers", "classifier", "index", "takedown", "lifespan", "workers", "api", "bench")


def _modules() -> list[str]:
    names: list[str] = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            names.append(info.name)
    return names


@pytest.mark.parametrize("module_name", _modules())
def test_module_imports(module_name: str) -> None:
    importlib.import_module(module_name)
