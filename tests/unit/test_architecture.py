"""The layout's rules (docs/architecture.md), checked on the source so that they cannot rot:

* the stages import one way -- foundation <- intake <- inference <- write-back <- composition/CLI --
  and nothing below the top imports the CLI (``integration.ops``), the web layer
  (``integration.intake.http``) or the composition root;
* no import cycles between modules;
* task facts live on ``Task``: outside ``integration/tasks/`` a task's name appears only in the
  allow-listed places that hold per-task code (evidence rules, generators, ...), never in a list.

Imports inside functions count: a hidden import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from integration.tasks import TASKS

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "integration"

# Rank of each top-level part of integration/: a module may import only its own rank or lower.
FOUNDATION = ("settings", "tasks", "audit", "monitoring", "samples", "fhir", "mappings", "store")
RANKS = {**dict.fromkeys(FOUNDATION, 0), "intake": 1, "inference": 2, "writeback": 3,
         "compose": 4, "ops": 4, "wsgi": 4}
STAGE_NAMES = {0: "foundation", 1: "intake", 2: "inference", 3: "write-back", 4: "composition/CLI"}
# Only the top may import these.
TOP_ONLY = ("integration.ops", "integration.intake.http", "integration.compose", "integration.wsgi")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules(root: Path) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(root.rglob("*.py"))}


MODULES = _modules(PACKAGE)


def _resolve(name: str) -> str | None:
    """The module of ours an import name refers to (a name imported from a module resolves to it)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(path: Path, module: str) -> set[str]:
    """Every module of integration/ that ``module`` imports, at any depth of its code."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            # "from pkg import submodule" depends on the submodule (and on pkg's __init__ only
            # when a name of pkg itself is imported).
            subs = [f"{base}.{alias.name}" for alias in node.names]
            names = [s for s in subs if s in MODULES] or [base]
        for name in names:
            if name.startswith("integration"):
                target = _resolve(name)
                if target is not None and target != module:
                    found.add(target)
    return found


GRAPH = {module: imports_of(path, module) for module, path in MODULES.items()}


def rank(module: str) -> int | None:
    parts = module.split(".")
    return RANKS.get(parts[1]) if len(parts) > 1 else None


def test_every_part_of_the_package_has_a_stage() -> None:
    unranked = sorted({m.split(".")[1] for m in MODULES if m != "integration" and rank(m) is None})
    assert unranked == [], f"add {unranked} to RANKS here and to docs/architecture.md"


def test_no_module_imports_a_later_stage() -> None:
    wrong = [f"{m} ({STAGE_NAMES[rank(m)]}) imports {t} ({STAGE_NAMES[rank(t)]})"
             for m, targets in GRAPH.items() if rank(m) is not None
             for t in sorted(targets) if rank(t) is not None and rank(t) > rank(m)]
    assert wrong == []


def test_only_the_top_imports_the_cli_the_web_layer_or_the_composition_root() -> None:
    def top_only(module: str) -> str | None:
        return next((t for t in TOP_ONLY if module == t or module.startswith(t + ".")), None)

    wrong = [f"{m} imports {t}" for m, targets in GRAPH.items() for t in sorted(targets)
             if top_only(t) is not None and rank(m) != 4 and top_only(m) != top_only(t)]
    assert wrong == []


def test_the_web_layer_is_built_only_by_the_composition_root() -> None:
    # The CLI, the demo and gunicorn get the app from compose.web_app, never by hand.
    wrong = [f"{m} imports {t}" for m, targets in GRAPH.items() for t in sorted(targets)
             if t.startswith("integration.intake.http") and not m.startswith("integration.intake.http")
             and m != "integration.compose"]
    assert wrong == []


def test_training_and_bench_use_the_product_below_its_cli() -> None:
    wrong = []
    for root in (ROOT / "training", ROOT / "bench"):
        for path in sorted(root.rglob("*.py")):
            for target in imports_of(path, _module_name(path)):
                if any(target == t or target.startswith(t + ".") for t in TOP_ONLY):
                    wrong.append(f"{path.relative_to(ROOT)} imports {target}")
    assert wrong == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# -- task names ------------------------------------------------------------------------------------

# Files outside integration/tasks/ that may name a task, and why. Each holds code that is about one
# task (its rule, its generator, its data), not a list that a new task would have to join.
TASK_NAME_ALLOWED = {
    "integration/inference/evidence/decide.py": "the evidence rules, registered by the task they decide",
    "training/cases.py": "the stated-fact extractors the independent cases are scored with",
    "training/thresholds.py": "what counts as a right answer, per task, when a threshold is chosen",
    "training/data/abnormality.py": "the generator of its task's rows",
    "training/data/impression.py": "the generator of its task's rows",
    "training/data/ner.py": "the generator of its task's rows",
    "training/data/nli.py": "the generator of its task's rows",
    "training/data/qa.py": "the generator of its task's rows",
    "training/data/rads.py": "the generator of its task's rows",
    "training/data/staging.py": "the generator of its task's rows",
    "training/data/temporal.py": "the generator of its task's rows",
    "training/data/reports_v2/__init__.py": "the tasks the v2 report generators write rows for",
    "training/data/reports_v2/rads.py": "the generator of its task's rows",
    "training/data/reports_v2/staging.py": "the generator of its task's rows",
    "bench/engine.py": "the engine bench's workload: one generated task",
}


def task_name_uses(path: Path) -> list[int]:
    """Lines of ``path`` where a string literal is exactly a task's name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return sorted({node.lineno for node in ast.walk(tree)
                   if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in TASKS})


def test_task_names_appear_only_in_tasks_and_the_allowed_places() -> None:
    wrong = []
    for root in (ROOT / "integration", ROOT / "training", ROOT / "bench"):
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("integration/tasks/") or rel in TASK_NAME_ALLOWED:
                continue
            wrong += [f"{rel}:{line}" for line in task_name_uses(path)]
    assert wrong == [], "a task fact belongs on Task (integration/tasks/base.py); see docs/architecture.md"


@pytest.mark.parametrize("rel", sorted(TASK_NAME_ALLOWED))
def test_every_allowed_place_exists_and_still_names_a_task(rel: str) -> None:
    # An entry that no longer applies is removed, so the list stays the true list.
    path = ROOT / rel
    assert path.exists(), rel
    assert task_name_uses(path), f"{rel} names no task any more: remove it from TASK_NAME_ALLOWED"


def test_building_the_web_app_never_loads_the_model_runtime() -> None:
    # gunicorn's web workers import integration.wsgi -> compose -> the app: CTranslate2 (and torch)
    # must stay out of them (tests/reliability/test_hardening_preview.py checks the live process).
    import subprocess
    import sys

    code = ("import sys, integration.compose, integration.intake.http.app; "
            "print(sorted(m for m in ('ctranslate2', 'torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
