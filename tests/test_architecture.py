"""The module map holds: no import circle between modules anywhere under core/ (imports made for
type hints only and imports inside functions counted too), none between core/ packages, and
pages never reach into a private training module (docs/ARCHITECTURE.md, "Rules")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import REPO

CORE = REPO / "core"


def _module_name(path: Path, root: Path = REPO) -> str:
    """core/generation/kinds.py -> core.generation.kinds; core/training/__init__.py ->
    core.training (a package's node is its __init__)."""
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def _imports(path: Path, type_hints: bool = False) -> set[str]:
    """Modules imported anywhere in the file (in functions too, dynamic import_module calls
    included): `from a import b` gives a and a.b. Imports under `if TYPE_CHECKING:` count
    only with `type_hints` (they never run, but a reader follows them)."""
    tree = ast.parse(path.read_text())
    skipped = set() if type_hints else _type_checking_nodes(tree)
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            out.add(str(node.args[0].value))
    return out


def _core_modules(root: Path) -> dict[str, Path]:
    return {_module_name(p, root): p for p in (root / "core").rglob("*.py")}


def _reexports(init: Path, package: str) -> dict[str, str]:
    """Name -> the package's own module it comes from, for names a package's __init__ imports
    from its modules (`from core.x.registry import get` makes core.x.get core.x.registry's)."""
    out: dict[str, str] = {}
    for node in ast.walk(ast.parse(init.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(package + "."):
            out |= {f"{package}.{a.asname or a.name}": str(node.module) for a in node.names}
    return out


def _core_targets(path: Path, modules: dict[str, Path], reexported: dict[str, str]) -> set[str]:
    """The core modules a file imports, type hints included (see `module_graph`)."""
    names = _imports(path, type_hints=True)
    targets = {reexported.get(n, n) for n in names if n in modules or n in reexported}
    for package in [t for t in targets if modules[t].name == "__init__.py"]:
        inside = {n for n in names if n.rpartition(".")[0] == package}
        if inside and inside <= set(modules) | set(reexported):
            targets.discard(package)  # `from core.x import y`: only y's own module
    return targets


def _reexported(modules: dict[str, Path]) -> dict[str, str]:
    out: dict[str, str] = {}
    for module, path in modules.items():
        if path.name == "__init__.py":
            out |= _reexports(path, module)
    return out


def module_graph(root: Path = REPO) -> dict[str, set[str]]:
    """Module -> the core modules it imports, type hints included. `from core.x import y`
    points at core.x.y when y is a module, at the module y comes from when core.x's __init__
    re-exports it, else at core.x (the __init__ itself). A package's __init__ importing its own
    modules (to register them) is no edge: that is how a package fills its registries, and
    those modules may then import the package's others."""
    modules = _core_modules(root)
    reexported = _reexported(modules)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = _core_targets(path, modules, reexported)
        if path.name == "__init__.py":
            targets = {t for t in targets if not t.startswith(module + ".")}
        graph[module] = targets - {module}
    return graph


def _unit(module: str) -> str:
    """The node of the package graph: a subpackage of core (core.training) or a top module."""
    return ".".join(module.split(".")[:2])


def _is_unit(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def core_graph() -> dict[str, set[str]]:
    """Package -> the core packages and top modules it imports (at run time)."""
    graph: dict[str, set[str]] = {}
    for path in CORE.rglob("*.py"):
        src = _unit(_module_name(path))
        targets = {_unit(m) for m in _imports(path) if m.startswith("core.")}
        graph.setdefault(src, set()).update(t for t in targets if t != src and _is_unit(t))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_module_graph_sees_type_hints_and_lets_an_init_register_its_modules():
    # Read from the real tree: kinds' registry is imported by the package __init__ (exempt)
    # and read by filters inside a function (counted).
    graph = module_graph()
    assert "core.generation.kind_registry" in graph["core.generation.filters"]
    assert not {t for t in graph["core.generation"] if t.startswith("core.generation.")}
    # A type-hint-only import is an edge: card reads TrainConfig under TYPE_CHECKING.
    assert "core.training.config" in graph["core.training.card"]


def test_a_circle_through_a_type_hint_or_a_function_is_found_and_registration_is_not(tmp_path):
    pkg = tmp_path / "core" / "pkg"
    pkg.mkdir(parents=True)
    (tmp_path / "core" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from core.pkg import a, b  # registers\n")
    (pkg / "a.py").write_text("from core.pkg.b import B\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from core.pkg.a import A\n"
    )
    (pkg / "c.py").write_text("def f():\n    from core.pkg import d\n")
    (pkg / "d.py").write_text("from core.pkg import c\n")
    assert cycles(module_graph(tmp_path)) == [
        ["core.pkg.a", "core.pkg.b"],
        ["core.pkg.c", "core.pkg.d"],
    ]


def test_no_import_circle_between_core_modules():
    graph = module_graph()
    found = cycles(graph)
    described = [" -> ".join(f"{m} {sorted(graph[m] & set(c))}" for m in c) for c in found]
    assert found == [], "\n".join(described)


def test_no_import_cycle_among_core_packages():
    graph = core_graph()
    assert "core.losses" not in graph.get("core.models", set())  # MoE is core.modeling's
    assert "core.training" not in graph.get("core.losses", set())
    assert not {m for m in _imports(CORE / "mining.py") if m.startswith("core.training.trainer")}
    assert cycles(graph) == []


def test_pages_never_import_a_private_training_module():
    for path in [*sorted((REPO / "pages").glob("*.py")), REPO / "app.py"]:
        for module in _imports(path):
            parts = module.split(".")
            private = [p for p in parts if p.startswith("_")]
            assert not (parts[:2] == ["core", "training"] and private), (path.name, module)


# Loss maths only (docs/ARCHITECTURE.md, "Losses and modeling"): a loss takes the model in
# __init__, as sentence-transformers' losses do, so naming SentenceTransformer in a type hint is
# all it may know of it; building rows, loading models and calling an API is the objectives'.
_LOSSES_NEVER_IMPORT = (
    "core.generation",
    "core.models",
    "core.modeling",
    "core.training",
    "core.store",
    "openai",
    "sentence_transformers",
)


def _forbidden_for_losses(path: Path) -> set[str]:
    everywhere = _imports(path, type_hints=True)
    hints = everywhere - _imports(path)
    allowed = {"sentence_transformers", "sentence_transformers.SentenceTransformer"} & hints
    return {
        m
        for m in everywhere - allowed
        if any(m == p or m.startswith(p + ".") for p in _LOSSES_NEVER_IMPORT)
    }


def test_losses_import_no_step_no_model_loader_and_no_api(tmp_path):
    for path in sorted((CORE / "losses").rglob("*.py")):
        assert _forbidden_for_losses(path) == set(), path.name
    # The check sees an import inside a function and one made for a type hint.
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from sentence_transformers import SentenceTransformer\n"
        "    from core.training.data import TrainingData\n"
        "def f():\n"
        "    from core.models import load_sentence_model\n"
    )
    assert _forbidden_for_losses(bad) == {
        "core.training.data",
        "core.training.data.TrainingData",
        "core.models",
        "core.models.load_sentence_model",
    }


# ------------------------------------------------------------------------------ layers
# Layers import downwards only (docs/ARCHITECTURE.md, "Layers"): a module imports from its own
# layer or the ones below, so a foundation module reads alone and a step never reaches into
# what orchestrates it. A module's layer is that of the longest prefix naming it; every module
# under core/ (and every page and ui module) must have one, so a new module is placed on
# purpose. No exceptions.
FOUNDATION, MODELING, STEPS, COMMANDS, INTERFACES = 1, 2, 3, 4, 5
LAYERS: dict[str, int] = {
    # interfaces: the Streamlit app and the embstudio command line
    "app": INTERFACES,
    "pages": INTERFACES,
    "ui": INTERFACES,
    "core.cli": INTERFACES,
    # commands and orchestration: what a command runs with, the one-click job, the job kinds'
    # handlers, the workspace at a glance, who may use the app (pages and ui read it)
    "core.commands": COMMANDS,
    "core.auto": COMMANDS,
    "core.overview": COMMANDS,
    "core.access": COMMANDS,
    "core.generation.jobs": COMMANDS,
    "core.training.jobs": COMMANDS,
    "core.evaluation.jobs": COMMANDS,
    "core.export.jobs": COMMANDS,
    # steps
    "core.ingest": STEPS,
    "core.documents": STEPS,
    "core.splits": STEPS,
    "core.demo": STEPS,
    "core.generation": STEPS,
    "core.pairs": STEPS,
    "core.beir_import": STEPS,
    "core.related_questions": STEPS,
    "core.question_log": STEPS,
    "core.mining": STEPS,
    "core.mining_settings": STEPS,
    "core.training": STEPS,
    "core.evaluation": STEPS,
    "core.geometry": STEPS,
    "core.export": STEPS,
    "core.serve": STEPS,
    # retrieval, losses and modeling
    "core.retrieval": MODELING,
    "core.losses": MODELING,
    "core.modeling": MODELING,
    # foundation: the workspace and its files, settings, models, devices, the job machinery
    "core": FOUNDATION,  # the package's __init__ (its version) only: the longest prefix wins
    "core.store": FOUNDATION,
    "core.runs": FOUNDATION,
    "core.settings": FOUNDATION,
    "core.step_settings": FOUNDATION,  # the settings contract every step follows
    "core.models": FOUNDATION,
    "core.devices": FOUNDATION,
    "core.jobs": FOUNDATION,
    "core.embedding_cache": FOUNDATION,
    "core.chunking": FOUNDATION,
    "core.extract": FOUNDATION,
    "core.beir_data": FOUNDATION,
    # The MoE encoder class: self-contained (it imports nothing of core and is copied into
    # every MoE model folder); core.models registers it to open such a folder.
    "core.modeling.bert_moe": FOUNDATION,
}


def layer_of(module: str, layers: dict[str, int] = LAYERS) -> int | None:
    named = [p for p in layers if module == p or module.startswith(p + ".")]
    named = [p for p in named if p != "core" or module == "core"]  # "core" is the __init__
    return layers[max(named, key=len)] if named else None


def upward_imports(graph: dict[str, set[str]], layers: dict[str, int] = LAYERS) -> list[str]:
    """'a (layer) -> b (layer)' for every import of a module above the importer's layer."""
    out = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            a, b = layer_of(module, layers), layer_of(target, layers)
            if a is not None and b is not None and b > a:
                out.append(f"{module} ({a}) -> {target} ({b})")
    return out


def interface_graph() -> dict[str, set[str]]:
    """The core modules and the pages, ui modules and app.py, each to the core modules it
    imports (type hints included)."""
    modules = _core_modules(REPO)
    reexported = _reexported(modules)
    graph = module_graph()
    files = [*sorted((REPO / "pages").glob("*.py")), *sorted((REPO / "ui").glob("*.py"))]
    for path in [*files, REPO / "app.py"]:
        graph[_module_name(path)] = _core_targets(path, modules, reexported)
    return graph


def test_the_layer_check_finds_an_upward_import():
    layers = {"core.low": 1, "core.high": 2, "core.high.base": 1}
    graph = {"core.low.a": {"core.high.b", "core.high.base"}, "core.high.b": {"core.low.a"}}
    assert upward_imports(graph, layers) == ["core.low.a (1) -> core.high.b (2)"]
    assert layer_of("core.x", {"core": 1}) is None  # only the package itself is "core"


def test_every_module_has_a_layer():
    assert [m for m in interface_graph() if layer_of(m) is None] == []


def test_layers_import_downwards_only():
    assert upward_imports(interface_graph()) == []


def test_interfaces_reach_losses_and_modeling_through_training():
    # A page or a command builds a run's settings from TrainConfig (core.training.config), never
    # from the MoE or loss modules underneath it.
    graph = interface_graph()
    reach = {
        f"{m} -> {t}"
        for m, targets in graph.items()
        if layer_of(m) == INTERFACES
        for t in targets
        if t.startswith(("core.losses", "core.modeling"))
    }
    assert reach == set()


# ------------------------------------------------------------------------------ workspace paths
# core/store.py's Workspace names the workspace's files and folders, core/runs.py's RunFolder a
# run's (docs/ARCHITECTURE.md, "Workspace layout"): nobody else joins a path under a workspace's
# root or names one of its folders.
_JOINS_A_WORKSPACE_PATH = re.compile(
    r'\.root\s*/|/\s*"(runs|jobs|cache|evaluations|minings|exports|files|logs|merge-curves)"'
)


def test_only_the_workspace_and_the_run_folder_join_workspace_paths():
    owners = {CORE / "store.py", CORE / "runs.py"}
    files = [*CORE.rglob("*.py"), *(REPO / "pages").glob("*.py"), *(REPO / "ui").glob("*.py")]
    found = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for path in sorted(set(files) - owners)
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if _JOINS_A_WORKSPACE_PATH.search(line)
    ]
    assert found == []
    assert _JOINS_A_WORKSPACE_PATH.search('    return ws.root / "minings" / name')
