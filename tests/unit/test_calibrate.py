"""Decision calibration of slot-scored tasks: the rule, the fit, the manifest and the engine."""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from integration.inference.engine import Engine, Request
from integration.inference.model_bundle import MANIFEST_NAME, BundleError, load_bundle
from integration.ops.cli import cli
from integration.samples import sample_texts
from integration.tasks import TASKS, Slots, TaskInput
from training.calibrate import GRID, _pick, fit, fit_bias, predict, slot_f1

TASK = TASKS["abnormality_detection"]
NAMES = TASK.slots.names


def _probs(pos: float, unc: float = 0.01) -> dict[str, float]:
    return {"positive": pos, "negative": 1.0 - pos - unc, "uncertain": unc}


# -- the decision rule ------------------------------------------------------------------------------

def test_choose_without_bias_is_argmax_and_ties_go_to_the_earlier_option() -> None:
    slots = Slots(names=("A", "B"), options=("yes", "no"), default="no", resolve=dict)
    assert slots.choose({"A": {"yes": 0.3, "no": 0.7}, "B": {"yes": 0.5, "no": 0.5}}) == {"A": "no", "B": "yes"}


def test_bias_moves_the_boundary_to_a_probability_ratio() -> None:
    slots = Slots(names=("A",), options=("yes", "no"), default="no", resolve=dict)
    probs = {"A": {"yes": 0.1, "no": 0.9}}
    # P(yes) e^b > P(no) exactly when b > ln 9.
    assert slots.choose(probs, {"A": {"yes": math.log(9) + 1e-6}}) == {"A": "yes"}
    assert slots.choose(probs, {"A": {"yes": math.log(9) - 1e-6}}) == {"A": "no"}
    assert slots.choose({"A": {"yes": 0.0, "no": 1.0}}, {"A": {"yes": 100.0}}) == {"A": "no"}  # never from nothing


# -- the fit ----------------------------------------------------------------------------------------

def _synthetic(n: int = 120, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """A model that ranks Support Devices perfectly but never past 0.5 (as radlite-mini 0.3.0 on
    val), a Cardiomegaly it already gets right, and a Fracture with too few positives to fit."""
    rng = random.Random(seed)
    probs, gold = [], []
    for i in range(n):
        device, heart, fracture = i % 5 == 0, i % 4 == 0, i in (3, 50)
        p = {name: _probs(0.002) for name in NAMES}
        p["Support Devices"] = _probs(rng.uniform(0.05, 0.2) if device else rng.uniform(0.001, 0.03))
        p["Cardiomegaly"] = _probs(0.9 if heart else 0.05)
        p["Fracture"] = _probs(0.3 if fracture else 0.002)
        probs.append(p)
        g = dict.fromkeys(TASK.slots.names, "negative")
        g |= {"Support Devices": "positive" if device else "negative", "Cardiomegaly": "positive" if heart else "negative",
              "Fracture": "positive" if fracture else "negative"}
        gold.append(TASK.slots.resolve(g))
    return probs, gold


def test_fit_finds_the_threshold_the_argmax_misses() -> None:
    probs, gold = _synthetic()
    assert slot_f1(predict(TASK, probs, None), gold, "Support Devices") == 0.0
    bias = fit_bias(TASK, probs, gold)
    assert slot_f1(predict(TASK, probs, bias), gold, "Support Devices") == 1.0
    # Any bias between the hardest device's log(P(neg)/P(pos)) and the easiest other report's
    # wins; the fit takes the middle of that run, not its edge.
    ratio = [math.log(p["Support Devices"]["negative"] / p["Support Devices"]["positive"]) for p in probs]
    devices = [r for r, g in zip(ratio, gold) if g["Support Devices"] == "positive"]
    others = [r for r, g in zip(ratio, gold) if g["Support Devices"] != "positive"]
    low, high = max(devices), min(others)
    b = bias["Support Devices"]["positive"]
    assert low + 0.25 < b < high - 0.25 or high - low < 0.75
    assert set(bias["Support Devices"]) == {"positive"}  # "uncertain" is never moved
    assert "Cardiomegaly" not in bias  # already right: the bias stays 0 and is not written
    assert "Fracture" not in bias  # two positives: too few to fit


def test_fit_reports_in_sample_and_cross_fitted_scores() -> None:
    probs, gold = _synthetic()
    result = fit(TASK, probs, gold)
    assert result.after > result.before
    assert result.before <= result.cross_after <= result.after
    record = result.record("val")
    assert record["split"] == "val" and record["n"] == len(probs) and record["metric"] == "macro_f1"


def test_fit_refuses_a_task_without_slots_and_a_default_option() -> None:
    with pytest.raises(ValueError, match="not slot-scored"):
        fit_bias(TASKS["radiology_nli"], [], [])
    with pytest.raises(ValueError, match="non-default option"):
        fit_bias(TASK, [], [], option="negative")


def test_pick_keeps_the_current_value_and_else_takes_the_middle_of_the_best_run() -> None:
    zero = GRID.index(0.0)
    flat = [1.0] * len(GRID)
    assert _pick(flat, 0.0) == 0.0
    run = [0.0] * len(GRID)
    for i in range(zero + 4, zero + 9):  # best at +1.0 .. +2.0
        run[i] = 1.0
    assert _pick(run, 0.0) == 1.5
    for i in range(zero - 12, zero - 9):  # an equal run further from 0 (-3.0 .. -2.5) loses
        run[i] = 1.0
    assert _pick(run, 0.0) == 1.5


# -- the manifest -----------------------------------------------------------------------------------

@pytest.fixture()
def bundle_copy(tiny_qwen2: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(tiny_qwen2, dst)
    return dst


def _set_calibration(path: Path, calibration: dict) -> None:
    data = json.loads((path / MANIFEST_NAME).read_text())
    data["calibration"] = calibration
    (path / MANIFEST_NAME).write_text(json.dumps(data))


def test_manifest_refuses_a_calibration_that_would_do_nothing(bundle_copy: Path) -> None:
    _set_calibration(bundle_copy, {
        "abnormality_detection": {"bias": {"Cardiomegally": {"positive": 1.0}, "Edema": {"present": 1.0}}},
        "radiology_nli": {"bias": {"x": {"entailment": 1.0}}},
    })
    with pytest.raises(BundleError) as err:
        load_bundle(bundle_copy)
    text = str(err.value)
    assert "unknown slot 'Cardiomegally'" in text and "unknown options ['present']" in text
    assert "radiology_nli" in text and "not slot-scored" in text


def test_calibration_hash_identifies_the_decision_rule(bundle_copy: Path) -> None:
    assert load_bundle(bundle_copy).manifest.calibration_sha256() is None
    _set_calibration(bundle_copy, {"abnormality_detection": {"bias": {"Edema": {"positive": 1.0}}}})
    first = load_bundle(bundle_copy).manifest.calibration_sha256()
    _set_calibration(bundle_copy, {"abnormality_detection": {"bias": {"Edema": {"positive": 1.25}},
                                                             "fitted": {"n": 3}}})
    second = load_bundle(bundle_copy).manifest.calibration_sha256()
    assert first and second and first != second


# -- the engine -------------------------------------------------------------------------------------

def test_engine_applies_the_bundle_calibration_to_the_choice_only(bundle_copy: Path) -> None:
    x = TaskInput(report=sample_texts()[0])
    plain = Engine(load_bundle(bundle_copy), threads=1).run([Request(TASK.name, x)])[0]
    flip = next(n for n in NAMES if plain.result.value[n] == "negative" and n != "No Finding")
    bias = -math.log(plain.slot_probs[flip]["positive"]) + 1.0  # enough to beat any rival
    _set_calibration(bundle_copy, {TASK.name: {"bias": {flip: {"positive": bias}}}})
    calibrated = Engine(load_bundle(bundle_copy), threads=1).run([Request(TASK.name, x)])[0]
    assert calibrated.slot_probs == plain.slot_probs  # the model's probabilities, untouched
    assert calibrated.result.value[flip] == "positive"
    assert f"{flip}: positive" in calibrated.result.raw.splitlines()
    assert calibrated.result.value["No Finding"] == "negative"  # the task's resolve rule still applies


# -- the command ------------------------------------------------------------------------------------

def _val(dir: Path, n: int = 12) -> Path:
    rng = random.Random(1)
    rows = []
    for text in (sample_texts() * 3)[:n]:
        value = {name: "positive" if rng.random() < 0.5 else "negative" for name in TASK.slots.names}
        rows.append({"task": TASK.name, "input": {"report": text}, "output": TASK.render(TASK.slots.resolve(value)),
                     "split": "val", "source": "test"})
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return dir


def test_calibrate_command_writes_the_bundle_and_refuses_a_foreign_adapter(bundle_copy: Path, tmp_path: Path) -> None:
    data = _val(tmp_path / "data")

    def run(*a):
        return CliRunner().invoke(cli, ["model", "calibrate", "--bundle", str(bundle_copy), "--data", str(data),
                                        "--threads", "1", *a], obj={})

    foreign = tmp_path / "adapter"
    foreign.mkdir()
    (foreign / "adapter_model.safetensors").write_bytes(b"not this bundle's adapter")
    res = run("--adapter", str(foreign))
    assert res.exit_code != 0 and "not the one bundle" in res.output

    res = run("--dry-run")
    assert res.exit_code == 0, res.output
    assert "abnormality_detection: macro_f1 on val (n=12)" in res.output and "| Support Devices |" in res.output
    assert not load_bundle(bundle_copy).manifest.calibration

    res = run("--version", "9.9.9")
    assert res.exit_code == 0, res.output
    manifest = load_bundle(bundle_copy).manifest
    assert manifest.version == "9.9.9"
    assert manifest.calibration[TASK.name].fitted["n"] == 12
    assert manifest.calibration[TASK.name].fitted["split"] == "val"


def test_calibrate_command_needs_val_rows_of_the_task(bundle_copy: Path, tmp_path: Path) -> None:
    (tmp_path / "val.jsonl").write_text(json.dumps({"task": "m_staging", "input": {"report": "x"}, "output": "M0",
                                                    "split": "val"}) + "\n")
    res = CliRunner().invoke(cli, ["model", "calibrate", "--bundle", str(bundle_copy), "--data", str(tmp_path)], obj={})
    assert res.exit_code != 0 and "no abnormality_detection rows" in res.output


def test_every_result_names_the_calibration_it_was_decided_with(bundle_copy: Path) -> None:
    from integration.inference.report_plan import result_record
    from integration.inference.router import Router

    _set_calibration(bundle_copy, {TASK.name: {"bias": {"Edema": {"positive": 0.5}}}})
    router = Router({"main": str(bundle_copy)}, engine_factory=lambda b: Engine(b, threads=1))
    out = router.engine_for(TASK.name).run([Request(TASK.name, TaskInput(report=sample_texts()[0]))])[0]
    record = result_record(out, router.engine_for(TASK.name).bundle)
    assert record["bundle"]["calibration_sha256"] == load_bundle(bundle_copy).manifest.calibration_sha256()
    assert record["slot_probs"] == out.slot_probs


def test_record_eval_only_for_the_adapter_and_calibration_the_card_holds(tmp_path: Path) -> None:
    from integration.inference.model_bundle import Calibration, calibration_sha256
    from training.build import ADAPTER_CARD, adapter_sha256

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    calibration = {TASK.name: {"bias": {"Edema": {"positive": 1.0}}, "fitted": {"n": 5}}}
    (adapter / ADAPTER_CARD).write_text(json.dumps({"version": "1.0.0", "calibration": calibration}))
    decided_with = calibration_sha256({TASK.name: Calibration.model_validate(calibration[TASK.name])})

    def report(**bundle) -> Path:
        path = tmp_path / "eval.json"
        path.write_text(json.dumps([{
            "bundle": {"name": "m", "version": "1.0.0", "adapter_sha256": adapter_sha256(adapter),
                       "calibration_sha256": decided_with, **bundle},
            "split": "test", "date": "2026-12-02T00:00:00+00:00",
            "tasks": {TASK.name: {"n": 3, "data": "real", "primary_metric": "macro_f1", "parse_failure_rate": 0.0,
                                  "metrics": {"macro_f1": 0.5}}}}]))
        return path

    def run(path):
        return CliRunner().invoke(cli, ["model", "record-eval", str(path), "--adapter", str(adapter)], obj={})

    res = run(report(adapter_sha256="0" * 64))
    assert res.exit_code != 0 and "another adapter" in res.output
    res = run(report(calibration_sha256=None))
    assert res.exit_code != 0 and "another calibration" in res.output
    res = run(report())
    assert res.exit_code == 0, res.output
    card = json.loads((adapter / ADAPTER_CARD).read_text())
    assert card["eval"]["tasks"][TASK.name]["score"] == 0.5 and card["eval"]["calibration_sha256"] == decided_with
    assert card["calibration"] == calibration  # kept
