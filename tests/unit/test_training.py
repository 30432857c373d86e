"""LoRA training, resume, merge and bundle build on a tiny random Qwen2 (no download)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from integration.inference.engine import Engine, Request  # noqa: E402 -- after the torch/peft importorskip
from integration.inference.model_bundle import load_bundle  # noqa: E402 -- after the torch/peft importorskip
from integration.samples import sample_reports  # noqa: E402 -- after the torch/peft importorskip
from integration.tasks import PROMPT_FORMAT_VERSION, TASKS, TaskInput  # noqa: E402 -- after the torch/peft importorskip
from training.build import ADAPTER_CARD, adapter_sha256, build, merge  # noqa: E402 -- after the torch/peft importorskip
from training.tiny import make_model  # noqa: E402 -- after the torch/peft importorskip
from training.train import TaskBalancedSampler, TrainConfig, encode, lr_at, train  # noqa: E402 -- after the torch/peft importorskip


def _rows() -> list[dict]:
    rows = []
    for s in sample_reports():
        findings, _, impression = s["text"].partition("IMPRESSION:")
        if impression:
            rows.append({"task": "impression_generation", "input": {"report": findings},
                         "output": " ".join(impression.split()), "split": "train"})
        rows.append({"task": "radiology_nli", "input": {"report": s["text"], "hypothesis": "The lungs are clear."},
                     "output": "neutral", "split": "train"})
        rows.append({"task": "m_staging", "input": {"report": s["text"]}, "output": "M0", "split": "train"})
    return rows


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("hf") / "qwen2", "qwen2")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("data")
    (d / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    return d


def _cfg(tiny_hf, data_dir, out, **kw) -> TrainConfig:
    base = dict(base=str(tiny_hf), data=str(data_dir), out=str(out), rank=4, alpha=8, steps=6,
                batch_size=2, lr=5e-2, warmup=1, checkpoint_every=3, max_len=1024)
    base.update(kw)
    return TrainConfig(**base)


def test_loss_only_on_answer_tokens(tiny_hf) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_hf)
    end_id = tok.convert_tokens_to_ids("<|im_end|>")
    ids, labels, weights = encode(tok, {"task": "m_staging", "input": {"report": "Liver lesions."}, "output": "M1"},
                                  end_id, option_weight=4.0)
    answer = [t for t in labels if t != -100]
    assert answer == tok("M1", add_special_tokens=False)["input_ids"] + [end_id]
    assert ids[-len(answer):] == answer and len(labels) == len(ids) == len(weights)
    assert set(weights) == {1.0}  # not a slot-scored task: option_weight does not apply


def _checklist_row(**statuses: str) -> dict:
    from integration.tasks.abnormality_detection import CHEXPERT_LABELS, render_abnormalities

    value = {label: "negative" for label in CHEXPERT_LABELS} | statuses
    return {"task": "abnormality_detection", "input": {"report": "Left apical pleural thickening."},
            "output": render_abnormalities(value)}


def test_option_weight_lands_on_non_default_decisions_only(tiny_hf) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_hf)
    end_id = tok.convert_tokens_to_ids("<|im_end|>")
    row = _checklist_row(**{"Pleural Other": "positive", "Lung Opacity": "uncertain"})
    ids, labels, weights = encode(tok, row, end_id, option_weight=4.0)
    weighted = [tok.decode([ids[i]]) for i, w in enumerate(weights) if w != 1.0]
    assert weighted == [" uncertain", " positive"] and {w for w in weights if w != 1.0} == {4.0}
    # Which tokens: those two decisions, in answer order (Lung Opacity precedes Pleural Other).
    answer_text = tok.decode([t for t, w in zip(ids, weights) if w == 4.0])
    assert answer_text == " uncertain positive"
    assert set(encode(tok, row, end_id)[2]) == {1.0}  # weight 1: plain answer loss
    assert set(encode(tok, _checklist_row(), end_id, option_weight=4.0)[2]) == {1.0}  # all at default


def test_weighted_answer_loss_is_the_weighted_mean(tiny_hf) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.train import answer_loss, collate

    tok = AutoTokenizer.from_pretrained(tiny_hf)
    end_id = tok.convert_tokens_to_ids("<|im_end|>")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_hf),
                           LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    batch = [encode(tok, _checklist_row(**{"Pleural Other": "positive"}), end_id, option_weight=5.0)]
    input_ids, labels, mask, weights = collate(batch, end_id)
    with torch.no_grad():
        plain = answer_loss(model, input_ids, labels, mask).item()
        ones = answer_loss(model, input_ids, labels, mask, torch.ones_like(weights)).item()
        weighted = answer_loss(model, input_ids, labels, mask, weights).item()
        marked = weights[0].tolist().index(5.0)
        only = torch.zeros_like(weights)
        only[0, marked] = 1.0
        decision = answer_loss(model, input_ids, labels, mask, only).item()  # that one token's loss
    n = sum(t != -100 for t in labels[0, 1:].tolist())  # answer tokens the loss sees (after the shift)
    assert ones == pytest.approx(plain, rel=1e-5)
    assert weighted == pytest.approx((plain * n + 4.0 * decision) / (n + 4.0), rel=1e-4)
    assert weighted != pytest.approx(plain, rel=1e-3)


def test_sampler_is_task_balanced() -> None:
    encoded = {"a": [([1], [1])] * 100, "b": [([2], [2])] * 2}
    batch = next(TaskBalancedSampler(encoded, 0).batches(400))
    share_b = sum(ids == [2] for ids, _ in batch) / len(batch)
    assert 0.4 < share_b < 0.6  # b has 2% of the rows but half the draws


def test_sampler_task_weights() -> None:
    encoded = {"a": [([1], [1])] * 10, "b": [([2], [2])] * 10}
    batch = next(TaskBalancedSampler(encoded, 0, weights={"b": 3}).batches(4000))
    share_b = sum(ids == [2] for ids, _ in batch) / len(batch)
    assert 0.7 < share_b < 0.8  # 3 : 1
    with pytest.raises(ValueError, match="no training rows"):
        TaskBalancedSampler(encoded, 0, weights={"c": 2})
    with pytest.raises(ValueError, match="positive"):
        TaskBalancedSampler(encoded, 0, weights={"a": 0})


def test_length_grouping_cuts_padding_without_changing_what_is_drawn() -> None:
    lengths = {"a": [3, 40, 7, 25, 12, 33, 5, 18], "b": [9, 30, 2, 21]}
    encoded = {t: [([n] * n, [n] * n) for n in ns] for t, ns in lengths.items()}

    def draw(group: int) -> list[list[int]]:
        batches = TaskBalancedSampler(encoded, 0).batches(4, group)
        return [[len(ids) for ids, _ in next(batches)] for _ in range(12)]

    plain, grouped = draw(1), draw(4)
    assert plain == draw(1)  # group=1 is the ungrouped sampler, draw for draw
    padded = lambda batches: sum(max(b) * len(b) for b in batches)  # noqa: E731 -- a one-line local helper
    assert padded(grouped) < padded(plain)
    # Same examples, only regrouped: each group of 4 batches holds what 4 draws would.
    flat = [n for b in grouped for n in b]
    assert sorted(flat[:16]) == sorted(n for b in draw(4)[:4] for n in b)
    for i in range(0, len(grouped), 4):
        chunk = sorted(grouped[i : i + 4], key=min)
        assert all(max(x) <= min(y) for x, y in zip(chunk, chunk[1:]))  # sorted, then cut


def test_lr_schedule_warms_up_and_decays() -> None:
    cfg = TrainConfig(base="", data="", out="", steps=100, warmup=10, lr=1.0)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(99, cfg) == pytest.approx(0.1, abs=0.01)


def test_refuses_rows_from_other_splits(tiny_hf, tmp_path) -> None:
    d = tmp_path / "data"
    d.mkdir()
    rows = _rows()
    rows[0]["split"] = "test"
    (d / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match="another split"):
        train(_cfg(tiny_hf, d, tmp_path / "run"), progress=False)


def test_train_resume_merge_and_build(tiny_hf, data_dir, tmp_path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run = tmp_path / "run"
    train(_cfg(tiny_hf, data_dir, run, steps=3), progress=False)
    assert (run / "checkpoint" / "state.pt").is_file()
    adapter = train(_cfg(tiny_hf, data_dir, run, steps=6), progress=False)  # resumes at step 3
    meta = json.loads((run / "run.json").read_text())
    assert meta["steps_run"] == 3
    assert set(meta["examples"]) == {"impression_generation", "radiology_nli", "m_staging"}

    # Merged weights must give the same logits as base + adapter.
    merged_dir = merge(tiny_hf, adapter, tmp_path / "merged")
    ids = torch.tensor([[5, 17, 42, 99, 7, 3]])
    base = AutoModelForCausalLM.from_pretrained(tiny_hf, dtype=torch.float32).eval()
    with torch.no_grad():
        base_logits = base(ids).logits
        peft_logits = PeftModel.from_pretrained(base, str(adapter)).eval()(ids).logits
        merged_logits = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()(ids).logits
    assert not torch.allclose(base_logits, peft_logits, atol=1e-3)  # the adapter did learn something
    torch.testing.assert_close(merged_logits, peft_logits, atol=1e-4, rtol=1e-4)

    bundle = build(tiny_hf, tmp_path / "bundle", name="tiny-ft", version="0.0.1", base_model="random-qwen2",
                   adapter_dir=adapter)
    assert bundle.manifest.adapter_sha256 == adapter_sha256(adapter)
    loaded = load_bundle(tmp_path / "bundle")
    out = Engine(loaded, threads=1).run([Request("m_staging", TaskInput(report="Liver lesions."))])[0]
    assert out.result.value in TASKS["m_staging"].labels
    assert meta["prompt_format"] == PROMPT_FORMAT_VERSION


def test_build_refuses_an_adapter_trained_on_other_prompts(tiny_hf, data_dir, tmp_path) -> None:
    adapter = train(_cfg(tiny_hf, data_dir, tmp_path / "run", steps=1), progress=False)
    for card in ({"tasks": ["m_staging"]}, {"prompt_format": "radlite-prompt/0"}):
        (adapter / ADAPTER_CARD).write_text(json.dumps(card))  # no prompt_format = the first one
        with pytest.raises(ValueError, match="trained on prompt format"):
            build(tiny_hf, tmp_path / "bundle", name="x", version="0", base_model="b", adapter_dir=adapter)
        assert not (tmp_path / "bundle").exists()


def test_build_carries_the_card_calibration_into_the_bundle(tiny_hf, data_dir, tmp_path) -> None:
    adapter = train(_cfg(tiny_hf, data_dir, tmp_path / "run", steps=1), progress=False)
    calibration = {"abnormality_detection": {"bias": {"Support Devices": {"positive": 3.5}}, "fitted": {"n": 199}}}
    (adapter / ADAPTER_CARD).write_text(json.dumps({"prompt_format": PROMPT_FORMAT_VERSION, "calibration": calibration}))
    bundle = build(tiny_hf, tmp_path / "bundle", name="x", version="0", base_model="b", adapter_dir=adapter)
    assert bundle.manifest.calibration["abnormality_detection"].bias == {"Support Devices": {"positive": 3.5}}


def test_init_adapter_starts_from_its_weights_and_refuses_another_shape(tiny_hf, data_dir, tmp_path) -> None:
    from peft.utils import load_peft_weights

    first = train(_cfg(tiny_hf, data_dir, tmp_path / "first", steps=3), progress=False)
    # Zero steps from the first adapter: the saved adapter is the first one, weight for weight.
    again = train(_cfg(tiny_hf, data_dir, tmp_path / "again", steps=0, init_adapter=str(first)), progress=False)
    ours, theirs = load_peft_weights(str(again), device="cpu"), load_peft_weights(str(first), device="cpu")
    assert ours.keys() == theirs.keys()
    assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in theirs.items())  # not LoRA's init
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], atol=0, rtol=0)
    meta = json.loads((tmp_path / "again" / "run.json").read_text())
    assert meta["init_adapter_sha256"] == adapter_sha256(first)

    # Installed over the adapter it started from, the card keeps that stage's record.
    from click.testing import CliRunner

    from training.build import read_card
    from training.cli import model

    dest = tmp_path / "installed"
    for run, version in (("first", "0.1.0"), ("again", "0.2.0")):
        result = CliRunner().invoke(model, ["install", str(tmp_path / run), "--dest", str(dest), "--version", version])
        assert result.exit_code == 0, result.output
    card = read_card(dest)
    assert card["version"] == "0.2.0"
    assert card["training"]["init_adapter_sha256"] == adapter_sha256(first)
    assert card["training"]["init"]["version"] == "0.1.0"
    assert card["training"]["init"]["steps_completed"] == 3

    with pytest.raises(ValueError, match="rank"):
        train(_cfg(tiny_hf, data_dir, tmp_path / "other", steps=1, rank=8, init_adapter=str(first)), progress=False)
    with pytest.raises(FileNotFoundError):
        train(_cfg(tiny_hf, data_dir, tmp_path / "none", steps=1, init_adapter=str(tmp_path)), progress=False)


def test_bf16_falls_back_to_float32_on_a_cpu_without_native_bfloat16(tiny_hf, data_dir, tmp_path, monkeypatch,
                                                                    capsys) -> None:
    """On an AVX2-only CPU PyTorch emulates bfloat16 products (90x slower here): --bf16 is dropped,
    said on stderr and recorded in run.json, rather than silently training for hours."""
    import training.train as train_module

    monkeypatch.setattr(train_module, "cpu_has_native_bf16", lambda: False)
    train(_cfg(tiny_hf, data_dir, tmp_path / "run", steps=1, bf16=True), progress=False)
    assert "--bf16 ignored" in capsys.readouterr().err
    assert json.loads((tmp_path / "run" / "run.json").read_text())["config"]["bf16"] is False


def test_keep_holds_a_task_to_the_starting_adapter(tiny_hf, data_dir, tmp_path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from integration.inference import prompting
    from training.train import answer_logits, collate, encode, keep_divergence

    first = train(_cfg(tiny_hf, data_dir, tmp_path / "first", steps=3), progress=False)
    plain = train(_cfg(tiny_hf, data_dir, tmp_path / "plain", steps=6, init_adapter=str(first)), progress=False)
    kept = train(_cfg(tiny_hf, data_dir, tmp_path / "kept", steps=6, init_adapter=str(first),
                      keep_tasks=("m_staging",), keep_weight=50.0), progress=False)
    logged = [json.loads(line) for line in (tmp_path / "kept" / "loss.jsonl").read_text().splitlines()]
    assert all("keep_kl" in r for r in logged) and "keep_kl" not in (tmp_path / "plain" / "loss.jsonl").read_text()

    tokenizer = AutoTokenizer.from_pretrained(tiny_hf)
    end_id = tokenizer.convert_tokens_to_ids(prompting.end_tokens(tokenizer)[0])
    rows = [r for r in _rows() if r["task"] == "m_staging"][:4]
    input_ids, labels, mask, _ = collate([encode(tokenizer, r, end_id) for r in rows], end_id)

    def logits_of(adapter):
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_hf, dtype=torch.float32), str(adapter))
        model.eval()
        with torch.no_grad():
            return answer_logits(model, input_ids, labels, mask)[0]

    start = logits_of(first)
    drift_plain = keep_divergence(logits_of(plain), start).item()
    drift_kept = keep_divergence(logits_of(kept), start).item()
    # The same steps at the same rate moved the kept task's answers less.
    assert drift_kept < drift_plain, (drift_kept, drift_plain)

    with pytest.raises(ValueError, match="init_adapter"):
        train(_cfg(tiny_hf, data_dir, tmp_path / "x", steps=1, keep_tasks=("m_staging",), keep_weight=1.0),
              progress=False)
    with pytest.raises(ValueError, match="keep tasks"):
        train(_cfg(tiny_hf, data_dir, tmp_path / "y", steps=1, init_adapter=str(first), keep_tasks=("nope",),
                   keep_weight=1.0), progress=False)
