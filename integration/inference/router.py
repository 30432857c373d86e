"""Route each task to the bundle that serves it (the paper's task-routed model pair).

Bundles are loaded lazily, once, and only when a task routed to them is first asked for, so a
site that configures a large second model for one task pays for it only if that task runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

from integration.audit import audit
from integration.inference.engine import Engine, Output, Request
from integration.inference.model_bundle import BundleError, ModelBundle, load_bundle
from integration.tasks import TASKS


class Router:
    def __init__(
        self,
        bundles: Mapping[str, str | Path],
        routes: Mapping[str, str] | None = None,
        default: str | None = None,
        *,
        engine_factory: Callable[[ModelBundle], Engine] | None = None,
        verify_hash: bool = True,
    ) -> None:
        if not bundles:
            raise ValueError("no model bundles configured")
        self.paths = {name: Path(p) for name, p in bundles.items()}
        self.default = default or next(iter(self.paths))
        self.routes = dict(routes or {})
        problems = []
        if self.default not in self.paths:
            problems.append(f"default bundle {self.default!r} is not among the configured bundles {sorted(self.paths)}")
        for task, name in self.routes.items():
            if task not in TASKS:
                problems.append(f"route for unknown task {task!r}")
            if name not in self.paths:
                problems.append(f"task {task!r} is routed to unknown bundle {name!r}")
        if problems:
            raise ValueError("; ".join(problems))
        self._factory = engine_factory or (lambda b: Engine(b))
        self._verify = verify_hash
        self._engines: dict[str, Engine] = {}

    @classmethod
    def from_settings(cls, inf, bundle: str | Path | None = None) -> "Router":
        """A router for ``settings.inference``; ``bundle`` replaces the configured bundles with one."""

        def factory(b: ModelBundle) -> Engine:
            return Engine(
                b,
                compute_type=inf.compute_type,
                threads=inf.threads,
                max_batch_size=inf.max_batch_size,
                max_input_tokens=inf.max_input_tokens,
                max_prompt_spread=inf.max_prompt_spread,
                batching=inf.batching,
                replicas=inf.resolved_replicas(),
                cpu_isa=None if inf.cpu_isa == "auto" else inf.cpu_isa,
            )

        if bundle is not None:
            return cls({"cli": bundle}, engine_factory=factory, verify_hash=inf.verify_hash)
        return cls(inf.bundles, inf.routes, inf.default_bundle, engine_factory=factory, verify_hash=inf.verify_hash)

    def bundle_name(self, task: str) -> str:
        if task not in TASKS:
            raise KeyError(f"unknown task {task!r}")
        return self.routes.get(task, self.default)

    def engine(self, name: str) -> Engine:
        if name not in self._engines:
            bundle = load_bundle(self.paths[name], verify_hash=self._verify)
            self._engines[name] = self._factory(bundle)
            audit("bundle.loaded", bundle=bundle.name, version=bundle.manifest.version,
                  sha256=bundle.model_sha256, adapter_sha256=bundle.manifest.adapter_sha256,
                  calibration_sha256=bundle.manifest.calibration_sha256(),
                  hash_verified=self._verify)
        return self._engines[name]

    def engine_for(self, task: str) -> Engine:
        name = self.bundle_name(task)
        engine = self.engine(name)
        if not engine.bundle.supports(task):
            raise BundleError(
                f"task {task!r} is routed to bundle {name!r} ({engine.bundle.path}), "
                f"which was not trained for it (its tasks: {engine.bundle.manifest.tasks})"
            )
        return engine

    def run(self, requests: Sequence[Request]) -> list[Output]:
        """Answer requests in order, each on the engine its task is routed to."""
        by_bundle: dict[str, list[int]] = {}
        for i, req in enumerate(requests):
            by_bundle.setdefault(self.bundle_name(req.task), []).append(i)
        outputs: list[Output | None] = [None] * len(requests)
        for name, idx in by_bundle.items():
            for req_i in idx:
                self.engine_for(requests[req_i].task)  # fail early on a mis-route
            for i, out in zip(idx, self.engine(name).run([requests[i] for i in idx])):
                outputs[i] = out
        return [o for o in outputs if o is not None]
