"""The CTranslate2 int8 engine on tiny random Qwen2 and Llama bundles: generation, scoring, routing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from integration.inference.engine import Engine, Request
from integration.inference.model_bundle import BundleError, load_bundle
from integration.inference.router import Router
from integration.samples import sample_texts
from integration.tasks import TASKS, TaskInput

REPORT = sample_texts()[1]


def _input(task: str) -> TaskInput:
    return TaskInput(
        report=REPORT,
        prior_report=sample_texts()[0] if task == "temporal_comparison" else None,
        hypothesis="There is a pleural effusion." if task == "radiology_nli" else None,
        question="Is the heart enlarged?" if task == "radiology_qa" else None,
    )


@pytest.fixture(scope="module", params=["qwen2", "llama"])
def engine(request, tiny_qwen2: Path, tiny_llama: Path) -> Engine:
    path = {"qwen2": tiny_qwen2, "llama": tiny_llama}[request.param]
    return Engine(load_bundle(path), compute_type="int8", threads=1, max_batch_size=4)


def test_int8_weights_in_model(engine: Engine) -> None:
    # "int8" resolves to int8 weights with float32 activations on this CPU.
    assert engine.generator.compute_type.startswith("int8")


def test_every_task_runs_and_returns_typed_result(engine: Engine) -> None:
    requests = [Request(name, _input(name)) for name in TASKS]
    outputs = engine.run(requests)
    assert [o.result.task for o in outputs] == list(TASKS)
    for out, name in zip(outputs, TASKS):
        task = TASKS[name]
        assert out.mode == task.mode
        assert out.prompt_tokens > 50
        if task.mode == "generate":
            assert 0 <= out.output_tokens <= task.max_new_tokens
        elif task.slots:
            # Slot scoring always gives every slot one of its options, with a distribution each.
            assert out.result.parsed and set(out.slot_probs) == set(task.slots.names)
            for probs in out.slot_probs.values():
                assert set(probs) == set(task.slots.options)
                assert math.isclose(sum(probs.values()), 1.0, rel_tol=1e-6)
        else:
            # Scoring always lands on a label, and its probabilities form a distribution.
            assert out.result.parsed and out.result.value in task.labels
            assert set(out.label_probs) == set(task.labels)
            assert math.isclose(sum(out.label_probs.values()), 1.0, rel_tol=1e-6)
            assert out.result.value == max(out.label_probs, key=out.label_probs.get)


def test_generation_is_deterministic_and_batch_independent(engine: Engine) -> None:
    x = _input("impression_generation")
    alone = engine.run([Request("impression_generation", x)])[0]
    others = [Request("impression_generation", TaskInput(report=t)) for t in sample_texts()[2:5]]
    batched = engine.run([*others, Request("impression_generation", x)])[-1]
    assert alone.result.raw == batched.result.raw
    assert alone.output_tokens == batched.output_tokens


@pytest.mark.parametrize("task_name", ["radiology_nli", "n_staging", "m_staging"])
def test_scoring_matches_full_sequence_log_probs(tiny_qwen2: Path, task_name: str) -> None:
    # The engine prefills the prompt once and forces each label; that must give the same
    # label log-probabilities as scoring every full prompt+label sequence on its own. float32,
    # so the comparison is exact up to rounding (int8 re-quantizes activations per call).
    engine = Engine(load_bundle(tiny_qwen2), compute_type="float32", threads=1)
    task = TASKS[task_name]
    x = _input(task_name)
    out = engine.run([Request(task_name, x)])[0]
    prompt = engine.prompt_ids(task, x)
    manual = {}
    for label in task.labels:
        answer = engine.answer_ids(task.render(label))
        res = engine.generator.score_batch([engine._tokens(prompt + answer)])[0]
        manual[label] = sum(res.log_probs[-len(answer):])
    top = max(manual.values())
    z = sum(math.exp(v - top) for v in manual.values())
    for label, v in manual.items():
        assert math.isclose(out.label_probs[label], math.exp(v - top) / z, rel_tol=1e-3, abs_tol=1e-5)
    assert out.result.value == max(manual, key=manual.get)


def _score_one_token(engine: Engine, prefix: list[int], options: list[int]) -> list[float]:
    """log p(option | prefix) for each option, by CTranslate2's score_batch (another code path)."""
    rows = engine.generator.score_batch([engine._tokens(prefix + [o]) for o in options])
    return [r.log_probs[-1] for r in rows]


def test_slot_scoring_matches_token_by_token_scores(tiny_qwen2: Path) -> None:
    # One forward pass over prompt + forced checklist must give, at every slot, the option
    # probabilities that scoring "prompt + checklist so far + option" one sequence at a time gives.
    engine = Engine(load_bundle(tiny_qwen2), compute_type="float32", threads=1)
    task = TASKS["abnormality_detection"]
    x = _input("abnormality_detection")
    out = engine.run([Request(task.name, x, mode="score")])[0]
    assert out.mode == "score" and out.result.parsed
    plan = engine.slot_plan(task)
    assert plan is not None and len(plan.positions) == 14
    assert engine.answer_ids(task.render(dict.fromkeys(task.slots.names, "negative")))[:-1] == plan.answer
    prompt = engine.prompt_ids(task, x)
    choices = {}
    for name, pos in zip(task.slots.names, plan.positions):
        logp = _score_one_token(engine, prompt + plan.answer[:pos], plan.option_ids)
        top = max(logp)
        z = sum(math.exp(v - top) for v in logp)
        for option, v in zip(task.slots.options, logp):
            assert math.isclose(out.slot_probs[name][option], math.exp(v - top) / z, rel_tol=1e-3, abs_tol=1e-5)
        choices[name] = task.slots.options[logp.index(top)]
    assert out.result.raw == task.slots.text(choices)
    assert out.result.value == task.slots.resolve(choices)


def test_slot_scoring_is_batch_independent(engine: Engine) -> None:
    # Rows of unlike length share a call (padded): each row's answer must not depend on the others.
    reports = sample_texts()[:5]
    alone = [engine.run([Request("abnormality_detection", TaskInput(report=r), mode="score")])[0] for r in reports]
    together = engine.run([Request("abnormality_detection", TaskInput(report=r), mode="score") for r in reports])
    assert [o.result.raw for o in alone] == [o.result.raw for o in together]
    for a, b in zip(alone, together):
        for name, probs in a.slot_probs.items():
            assert all(math.isclose(p, b.slot_probs[name][o], abs_tol=2e-3) for o, p in probs.items())


def test_slot_scoring_falls_back_to_generation_without_a_plan(tiny_qwen2: Path) -> None:
    engine = Engine(load_bundle(tiny_qwen2), threads=1)
    engine._slot_plans["abnormality_detection"] = None  # as when the tokenizer allows no plan
    out = engine.run([Request("abnormality_detection", _input("abnormality_detection"), mode="score")])[0]
    assert out.mode == "generate" and not out.slot_probs


def test_slot_plan_and_the_tokenizers_it_refuses() -> None:
    import re

    from integration.inference.engine import slot_plan
    from integration.tasks import Slots

    slots = Slots(names=("A", "B"), options=("yes", "no"), default="no", resolve=dict)
    vocab: dict[str, int] = {}

    def words(text: str, add_special_tokens: bool = False) -> dict:
        return {"input_ids": [vocab.setdefault(t, len(vocab)) for t in re.findall(r" ?\w+|\n|[^\w\s]", text)]}

    plan = slot_plan(words, slots)
    assert [vocab_key for i in plan.answer for vocab_key, j in vocab.items() if i == j] == ["A", ":", " no", "\n", "B", ":", " no"]
    assert plan.positions == [2, 6] and plan.option_ids == [vocab[" yes"], vocab[" no"]]

    def chars(text: str, add_special_tokens: bool = False) -> dict:
        return {"input_ids": [ord(c) for c in text]}  # " yes" and " no" both start with " "

    with pytest.raises(ValueError, match="distinct"):
        slot_plan(chars, slots)

    def whole(text: str, add_special_tokens: bool = False) -> dict:
        return {"input_ids": [sum(map(ord, text)) % 10_000]}  # one token per text: nothing splits

    with pytest.raises(ValueError, match="across slot boundaries"):
        slot_plan(whole, slots)


def test_generation_batches_group_by_limit_and_prompt_length() -> None:
    from integration.inference.engine import _Item, generation_batches

    def item(i: int, task: str, n: int) -> _Item:
        return _Item(i, TASKS[task], [0] * n)

    items = [item(0, "impression_generation", 100), item(1, "rads_assignment", 120),
             item(2, "radiology_ner", 300), item(3, "impression_generation", 110),
             item(4, "abnormality_detection", 125), item(5, "impression_generation", 140)]
    batches = generation_batches(items, max_batch_size=2, max_prompt_spread=32)
    as_ids = [[it.index for it in b] for b in batches]
    assert sorted(i for b in as_ids for i in b) == list(range(6))  # every request exactly once
    for b in batches:
        assert len(b) <= 2
        assert len({it.task.max_new_tokens for it in b}) == 1
        assert len(b[-1].prompt) - len(b[0].prompt) <= 32
    assert [1] in as_ids  # rads_assignment has its own token limit
    assert [2] in as_ids  # 300 tokens is too far from the rest
    assert [0, 3] in as_ids  # shortest first


def test_forced_generate_mode_on_a_scored_task(engine: Engine) -> None:
    out = engine.run([Request("m_staging", _input("m_staging"), mode="generate")])[0]
    assert out.mode == "generate"
    assert out.output_tokens <= TASKS["m_staging"].max_new_tokens


def test_scoring_a_generated_task_whose_labels_are_not_its_values(engine: Engine) -> None:
    # RADS labels are answer texts ("BI-RADS 4A"), its values dicts: scoring must parse the label.
    out = engine.run([Request("rads_assignment", _input("rads_assignment"), mode="score")])[0]
    assert out.mode == "score" and out.result.parsed
    assert TASKS["rads_assignment"].render(out.result.value) in TASKS["rads_assignment"].labels
    assert set(out.label_probs) == set(TASKS["rads_assignment"].labels)


def test_missing_task_input_is_rejected(engine: Engine) -> None:
    with pytest.raises(ValueError, match="hypothesis"):
        engine.run([Request("radiology_nli", TaskInput(report=REPORT))])


def test_too_long_prompt_is_rejected(tiny_qwen2: Path) -> None:
    engine = Engine(load_bundle(tiny_qwen2), max_input_tokens=64)
    with pytest.raises(ValueError, match="limit is 64"):
        engine.run([Request("impression_generation", TaskInput(report=REPORT))])


def test_router_sends_each_task_to_its_bundle(tiny_qwen2: Path, tiny_llama: Path) -> None:
    router = Router({"q": tiny_qwen2, "l": tiny_llama}, routes={"impression_generation": "l"}, default="q")
    outs = router.run([
        Request("impression_generation", _input("impression_generation")),
        Request("radiology_nli", _input("radiology_nli")),
    ])
    assert [o.result.task for o in outs] == ["impression_generation", "radiology_nli"]
    assert router.engine_for("impression_generation").bundle.name == "tiny-llama"
    assert router.engine_for("radiology_nli").bundle.name == "tiny-qwen2"
    assert router.engine("q") is router.engine_for("m_staging")  # loaded once, reused


def test_router_rejects_bad_configuration(tiny_qwen2: Path) -> None:
    with pytest.raises(ValueError, match="unknown bundle 'x'"):
        Router({"q": tiny_qwen2}, routes={"radiology_nli": "x"})
    with pytest.raises(ValueError, match="unknown task"):
        Router({"q": tiny_qwen2}, routes={"knitting": "q"})
    with pytest.raises(ValueError, match="default bundle"):
        Router({"q": tiny_qwen2}, default="nope")


def test_router_refuses_task_the_bundle_was_not_trained_for(tiny_qwen2: Path, tmp_path: Path) -> None:
    import json
    import shutil

    dst = tmp_path / "b"
    shutil.copytree(tiny_qwen2, dst)
    manifest = json.loads((dst / "radlite.json").read_text())
    manifest["tasks"] = ["radiology_nli"]
    (dst / "radlite.json").write_text(json.dumps(manifest))
    router = Router({"b": dst})
    with pytest.raises(BundleError, match="not trained for it"):
        router.engine_for("impression_generation")


def test_batching_modes_give_the_answers_of_requests_run_alone(tiny_qwen2: Path) -> None:
    # The static prompt (engine-wide prefix, or one report's text) and the batch composition are
    # speed choices: in float32 they must not change what is generated.
    reports = sample_texts()[:3]
    requests = [Request(task, TaskInput(report=r)) for r in reports
                for task in ("impression_generation", "radiology_ner", "abnormality_detection", "rads_assignment")]

    def answers(**kw) -> list[str]:
        engine = Engine(load_bundle(tiny_qwen2), compute_type="float32", threads=1, **kw)
        return [o.result.raw for o in engine.run(requests)]

    alone = answers(max_batch_size=1)
    assert answers(batching="length", max_batch_size=8, max_prompt_spread=0) == alone
    assert answers(batching="report", max_batch_size=8, max_prompt_spread=64) == alone


def test_common_prefix_is_shared_by_every_prompt(engine: Engine) -> None:
    assert len(engine.common_prefix) > 10
    for name in TASKS:
        assert engine.prompt_ids(TASKS[name], _input(name))[: len(engine.common_prefix)] == engine.common_prefix


def test_replicas_answer_like_one_replica(tiny_qwen2: Path) -> None:
    # Two replicas run batches concurrently from a thread pool; the answers, their order and the
    # scored label probabilities must be those of the single-replica engine.
    requests = [Request(task, _input(task)) for task in TASKS] * 2
    one = Engine(load_bundle(tiny_qwen2), compute_type="float32", threads=1, max_batch_size=2)
    two = Engine(load_bundle(tiny_qwen2), compute_type="float32", threads=1, max_batch_size=2, replicas=2)
    a, b = one.run(requests), two.run(requests)
    assert [o.result.task for o in b] == [r.task for r in requests]
    assert [o.result.raw for o in a] == [o.result.raw for o in b]
    for x, y in zip(a, b):
        assert set(x.label_probs) == set(y.label_probs)
        assert all(math.isclose(x.label_probs[k], y.label_probs[k], rel_tol=1e-4) for k in x.label_probs)


def test_auto_compute_type_is_int8_only_where_int8_products_are_exact() -> None:
    from integration.inference.engine import resolve_compute_type

    assert resolve_compute_type("auto", {"avx2", "fma", "avx512f", "avx512_vnni"}) == "int8"
    assert resolve_compute_type("auto", {"avx2", "fma", "avx_vnni"}) == "int8"
    assert resolve_compute_type("auto", {"avx2", "fma", "f16c"}) == "float32"  # saturating vpmaddubsw
    assert resolve_compute_type("int8", {"avx2"}) == "int8"  # an explicit choice stands
    assert resolve_compute_type("auto", set()) == "float32"


def test_the_engine_resolves_auto(tiny_qwen2) -> None:
    from integration.inference.engine import resolve_compute_type

    engine = Engine(load_bundle(tiny_qwen2), threads=1)
    assert engine.compute_type == resolve_compute_type("auto") != "auto"
