"""Imports run one way (``docs/architecture.md``): features <- training <- serving / experiments
<- lifecycle_cli. ``serving`` and ``experiments`` are siblings and do not import each other.
Helpers shared between modules are public: no module imports another module's ``_private``
name or a ``_private`` module. Every import counts, also those inside functions (lazy imports),
under ``TYPE_CHECKING`` and through ``importlib.import_module("...")``; ``bench/`` and ``tests/``
may import anything and are not checked.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Layer of each top-level project package: a module may import its own package and lower layers.
LAYERS = {"features": 0, "training": 1, "serving": 2, "experiments": 2, "lifecycle_cli": 3}


@dataclass(frozen=True)
class Import:
    """One project import: the importing module, the line, the module imported, and the names."""

    module: str
    line: int
    target: str
    names: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.module.replace('.', '/')}.py:{self.line}"


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_files(root: Path = REPO) -> list[Path]:
    """Every module of the project's packages and the CLI (not bench/, tests/, docs/)."""
    files: list[Path] = []
    for package in LAYERS:
        if (root / package).is_dir():
            files += sorted((root / package).rglob("*.py"))
    return [f for f in files if f.exists()]


def resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module of ``from {'.' * level}{name} import ...`` written in ``module``."""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *([name] if name else [])])


def imports_in(source: str, module: str, is_package: bool = False) -> list[Import]:
    """All project imports in ``source``, wherever they are in the file."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(module, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                target = resolve_relative(module, is_package, node.level, node.module)
            found.append(Import(module, node.lineno, target, tuple(a.name for a in node.names)))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(Import(module, node.lineno, node.args[0].value))
    return [i for i in found if i.target.split(".")[0] in LAYERS]


def all_imports(root: Path = REPO) -> list[Import]:
    found = []
    for path in project_files(root):
        found += imports_in(path.read_text(), module_name(path, root), path.name == "__init__.py")
    return found


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def direction_violations(imports: list[Import]) -> list[str]:
    """Imports of a package of the same or a higher layer (other than the module's own)."""
    bad = []
    for i in imports:
        source, target = i.module.split(".")[0], i.target.split(".")[0]
        if source != target and LAYERS[target] >= LAYERS[source]:
            bad.append(
                f"{i.where}: {source} imports {i.target} (layer {LAYERS[target]} >= "
                f"{LAYERS[source]})"
            )
    return bad


def private_violations(imports: list[Import]) -> list[str]:
    """Imports of another module's private names or of a private module."""
    bad = []
    for i in imports:
        private_module = any(is_private(part) for part in i.target.split("."))
        if private_module and i.target != i.module:
            bad.append(f"{i.where}: imports the private module {i.target}")
        names = [n for n in i.names if is_private(n)]
        if names and i.target != i.module:
            bad.append(f"{i.where}: imports private {', '.join(names)} from {i.target}")
    return bad


def test_imports_run_one_way():
    imports = all_imports()
    assert len(imports) > 100, "the checker found too few project imports to be reading the code"
    assert direction_violations(imports) == []


def test_shared_helpers_are_public():
    assert private_violations(all_imports()) == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (
            "training.train",
            "def f():\n    from serving.config import ScoringConfig\n",
            "training imports serving.config",
        ),
        ("features.snapshots", "import training.dataset\n", "features imports training.dataset"),
        ("serving.batch", "from experiments import runs\n", "serving imports experiments"),
        (
            "experiments.report",
            "from serving.scoring import score\n",
            "experiments imports serving.scoring",
        ),
        (
            "training.tune",
            "import importlib\nimportlib.import_module('lifecycle_cli')\n",
            "imports lifecycle_cli",
        ),
        (
            "training.x",
            "if TYPE_CHECKING:\n    from serving import batch\n",
            "training imports serving",
        ),
    ],
)
def test_the_checker_sees_an_import_that_runs_back_up(module, source, expected):
    assert any(expected in v for v in direction_violations(imports_in(source, module)))


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (
            "training.backtest",
            "def f():\n    from training.train import _logit\n",
            "private _logit",
        ),
        (
            "training.btyd",
            "from .btyd_bgnbd import _p_alive, ok\n",
            "private _p_alive from training.btyd_bgnbd",
        ),
        ("training.metrics", "from training._common import x\n", "private module training._common"),
        ("serving.batch", "import features._hidden\n", "private module features._hidden"),
    ],
)
def test_the_checker_sees_a_private_import(module, source, expected):
    assert any(expected in v for v in private_violations(imports_in(source, module)))


def test_allowed_imports_pass_the_checker():
    source = (
        "from __future__ import annotations\nimport numpy\nfrom features.config import "
        "FeatureConfig\n"
        "def f():\n    from training.registry import promote\n    from . import scoring\n"
        "    from .scoring import _local\n"
    )
    imports = imports_in(source, "serving.batch")
    assert {i.target for i in imports} == {
        "features.config",
        "training.registry",
        "serving",
        "serving.scoring",
    }
    assert direction_violations(imports) == []
    assert (
        private_violations(imports_in("from features.config import __all__\n", "training.x")) == []
    )
    # a private name of the module itself (a relative import of its own names) is not shared
    assert private_violations(imports_in("from .batch import _x\n", "serving.batch")) == []


def module_graph(imports: list[Import], modules: set[str]) -> dict[str, set[str]]:
    """Which project modules each module imports; ``from package import submodule`` counts as an
    import of the submodule (not of the package's ``__init__``)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for i in imports:
        targets = {f"{i.target}.{n}" for n in i.names if f"{i.target}.{n}" in modules}
        if len(targets) < len(i.names) or not i.names:
            targets.add(i.target)
        graph.setdefault(i.module, set()).update(t for t in targets if t in modules)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or in a ring (Tarjan's strongly
    connected components of two modules or more), lazy imports included."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_itself_back():
    """A ring of imports (two modules needing each other, even through a lazy import inside a
    function) means one of them holds something in the wrong place."""
    modules = {module_name(p) for p in project_files()}
    assert import_cycles(module_graph(all_imports(), modules)) == []


def test_the_checker_sees_a_ring_through_a_lazy_import():
    imports = [
        *imports_in("from features.b import x\n", "features.a"),
        *imports_in("def f():\n    from features.c import y\n", "features.b"),
        *imports_in("def g():\n    from features import a\n", "features.c"),
        *imports_in("from features import d\n", "features"),
        *imports_in("import features.a\n", "features.d"),
    ]
    graph = module_graph(
        imports, {"features", "features.a", "features.b", "features.c", "features.d"}
    )
    assert import_cycles(graph) == [["features.a", "features.b", "features.c"]]
