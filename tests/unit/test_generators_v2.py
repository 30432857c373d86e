"""Generators v2 (training/data/reports_v2): full reports for rads_assignment, n_staging, m_staging.

Checked here: every row round-trips through its task; labels follow the described features (and a
stated category equals the label; an unstated one is nowhere in the text); the train/val/test split
holds at the level of templates, skeletons and normalized sentences; class balance; lengths;
determinism and speed; no PHI-shaped strings; the ``--generators v2`` wiring of the builder and CLI.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict

import pytest
from click.testing import CliRunner

from integration.tasks import TASKS
from integration.tasks.rads_assignment import _BARE, _PATTERNS, SYSTEMS, _canonical
from training.data import rads_rules as rr, staging as staging_v1
from training.data.reports_v2 import manifest_info, v2_rows
from training.data.reports_v2.phrasing import REGISTRY, SPLITS, assign_splits, normalize, sentences, skeleton_split
from training.data.reports_v2.rads import NONE_SHARE, n_none_for, rads_examples, rads_rows_v2
from training.data.reports_v2.rads_systems_a import _TI_WORDS
from training.data.reports_v2.staging import STATIONS, eso_n, staging_examples

SEED = 0
N_PER_SYSTEM = 80
N_STAGING = 600
MIN_WORDS = 2  # sentences this long or longer must not be shared between train and val/test


@pytest.fixture(scope="module")
def rads_ex():
    return rads_examples(SEED, N_PER_SYSTEM, n_none_for(N_PER_SYSTEM))


@pytest.fixture(scope="module")
def stg_ex():
    return staging_examples(SEED, N_STAGING)


@pytest.fixture(scope="module")
def rows():
    return v2_rows(SEED, rads_per_system=N_PER_SYSTEM, staging_reports=N_STAGING)


# ------------------------------------------------------------------------------ the task contract

def test_every_row_round_trips_through_its_task(rows):
    assert {r["task"] for r in rows} == {"rads_assignment", "n_staging", "m_staging"}
    for row in rows:
        task = TASKS[row["task"]]
        result = task.parse(row["output"])
        assert result.parsed, (row["task"], row["output"], result.error)
        assert task.render(result.value) == row["output"]
        assert task.parse(task.render(result.value)).value == result.value
        assert row["source"].startswith("generated:v2:") and row["report_id"].startswith("gen:v2:")
        assert row["split"] in SPLITS


def test_every_rads_category_and_staging_label_occurs(rows):
    outputs = Counter((r["task"], r["output"]) for r in rows)
    for system, categories in SYSTEMS.items():
        for c in categories:
            assert outputs[("rads_assignment", f"{system} {c}")] > 0, (system, c)
    assert outputs[("rads_assignment", "No applicable RADS")] > 0
    assert {o for t, o in outputs if t == "n_staging"} == {"N0", "N1", "N2", "N3"}
    assert {o for t, o in outputs if t == "m_staging"} == {"M0", "M1", "M1a", "M1b", "M1c"}


# ------------------------------------------------------------------------------ labels vs the text

_VERSION = re.compile(r"\s*\(?\bv\d+(?:\.\d+)?\)?|(?<=CAD-RADS) 2\.0")


def _reader(system: str) -> re.Pattern[str]:
    """The system's name, then up to 40 characters of words (no digits: "category", "risk category",
    "assessment:", "level"), then a category the system defines -- more lenient than the answer
    parser, as report text is."""
    name, cat = _PATTERNS[system]
    return re.compile(rf"(?<![a-z0-9]){name}[A-Za-z :()/\u00ae\u2122-]{{0,40}}?(?<![a-z0-9]){cat}(?![a-z0-9])", re.IGNORECASE)


_READERS = {**{s: [_reader(s)] for s in SYSTEMS}}
_READERS["LI-RADS"].append(_BARE["LI-RADS"])
_READERS["TI-RADS"].append(_BARE["TI-RADS"])


def _mentions(text: str) -> list[tuple[str, str]]:
    """Every (system, category) a reader finds anywhere in ``text`` (version tags dropped first)."""
    text = _VERSION.sub("", text)
    out = []
    for system, regexes in _READERS.items():
        for regex in regexes:
            for m in regex.finditer(text):
                category = _canonical(system, m.group(1))
                if category in SYSTEMS[system]:
                    out.append((system, category))
    return out


def _without(text: str, *fragments: str) -> str:
    for f in fragments:
        if f:
            assert f in text, f
            text = text.replace(f, " ")
    return text


def test_stated_category_equals_the_label_and_unstated_is_nowhere(rads_ex):
    stated = unstated = 0
    for ex in rads_ex:
        rest = _without(ex.text, ex.prior, ex.xhist)
        if ex.system is None:
            assert not ex.stated and _mentions(rest) == [], ex.text
            continue
        if ex.stated:
            stated += 1
            assert set(_mentions(ex.stated)) == {(ex.system, ex.category)}, ex.stated
            found = _mentions(rest)
            assert found and set(found) == {(ex.system, ex.category)}, (found, ex.value)
        else:
            unstated += 1
            assert _mentions(rest) == [], (ex.value, _mentions(rest))
        if ex.prior:  # an earlier category of the same system, never the current one
            assert {s for s, _ in _mentions(ex.prior)} == {ex.system}
            assert (ex.system, ex.category) not in _mentions(ex.prior)
        if ex.xhist:
            assert ex.system not in {s for s, _ in _mentions(ex.xhist)}
    assert 0.4 < stated / (stated + unstated) < 0.7, (stated, unstated)


def test_bi_rads_4_subcategories_are_always_stated(rads_ex):
    for ex in rads_ex:
        if ex.system == "BI-RADS" and ex.category in ("4", "4A", "4B", "4C"):
            assert ex.stated


def test_traps_occur_in_their_shares(rads_ex):
    with_system = [e for e in rads_ex if e.system]
    none = [e for e in rads_ex if not e.system]
    assert 0.05 < sum(bool(e.prior) for e in with_system) / len(with_system) < 0.3
    assert 0.05 < sum(bool(e.xhist) for e in with_system) / len(with_system) < 0.25
    assert sum(e.lookalike for e in with_system) > 0.05 * len(with_system)
    assert sum(bool(e.xhist) for e in none) > 0.15 * len(none)
    assert sum(e.lookalike for e in none) > 0.2 * len(none)
    # the look-alike numbers are there: breast density category letters, T1/T2-weighted, vertebral and disc levels
    texts = " ".join(e.text for e in rads_ex)
    for lookalike in ("density category", "T2-weighted", "Fleischner", "C5-C6"):
        assert lookalike in texts, lookalike


def test_rads_labels_follow_the_published_rules(rads_ex):
    checked = Counter()
    for ex in rads_ex:
        f, low = ex.features, ex.text.lower()
        if ex.system == "TI-RADS":
            points = rr.tirads_points(f["comp"], f["echo"], f["shape"], f["margin"], f["foci"])
            assert points == f["points"] and rr.tirads_level(points) == ex.category
            for key in ("comp", "echo", "shape", "margin"):
                assert any(v.lower() in low for v in _TI_WORDS[key][f[key]]), (key, f[key])
        elif ex.system == "LI-RADS" and "aphe" in f:
            assert rr.lirads_major(f["aphe"], f["size_mm"], f["washout"], f["capsule"], f["growth"]) == ex.category
            assert ("washout" in low) and ("capsule" in low or "capsular" in low or "rim" in low)
        elif ex.system == "Lung-RADS" and "nodules" in f:
            cats = [rr.lung_rads_nodule(n["kind"], n["mean"], n["solid"], n["status"], n["suspicious"]) for n in f["nodules"]]
            assert rr.lung_rads_exam(cats) == ex.category
            for n in f["nodules"]:
                assert f"{n['long']} x {n['short']} mm" in ex.text
        elif ex.system == "PI-RADS":
            assert rr.pirads(f["zone"], f["dwi"], f["t2"], f["dce"]) == ex.category
        elif ex.system == "O-RADS":
            expected = "1" if f["lesion"] == "follicle" else rr.orads(f["lesion"], f["cm"], postmenopausal=f["postmenopausal"],
                                                                       color_score=f["color_score"], papillary=f["papillary"], irregular=f["irregular"])
            assert expected == ex.category
            assert ("postmenopaus" in low or "menopause " in low) == f["postmenopausal"]
        elif ex.system == "CAD-RADS":
            assert rr.cad_rads(f["stenosis"], nondiagnostic=f["nondiagnostic"]) == ex.category
            for pct in f["stenosis"].values():
                if 0 < pct < 100:
                    word = next(w for hi, w in ((24, "minimal"), (49, "mild"), (69, "moderate"), (99, "severe")) if pct <= hi)
                    assert f"{pct}%" in ex.text or word in low
        elif ex.system == "C-RADS" and f.get("section") == "colonic":
            assert rr.c_rads_colon(f["polyps"], f["mass"], f["inadequate"]) == ex.category
            for mm in f["polyps"]:
                assert f"{mm} mm" in ex.text
        else:
            continue
        checked[ex.system] += 1
    assert set(checked) == {"TI-RADS", "LI-RADS", "Lung-RADS", "PI-RADS", "O-RADS", "CAD-RADS", "C-RADS"}


def _m_from_sites(sites: list[str]) -> str:
    m1a = {"contralateral lung nodule", "pleural metastases", "malignant pleural effusion", "malignant pericardial disease"}
    extra = [s for s in sites if s not in m1a]
    if any("multiple" in s or "several" in s for s in extra) or len(extra) >= 2:
        return "M1c"
    return "M1b" if extra else "M1a" if sites else "M0"


_N_TOKEN = re.compile(r"(?<![A-Za-z0-9])[cpy]?N[0-3](?:mi|[a-d])?(?![A-Za-z0-9])")
_M_TOKEN = re.compile(r"(?<![A-Za-z0-9])[cpy]?M[01][a-d]?(?![A-Za-z0-9])")


def test_staging_labels_follow_the_described_nodes_and_sites(stg_ex):
    sites = Counter()
    for ex in stg_ex:
        f, low = ex.features, ex.text.lower()
        sites[ex.site] += 1
        if ex.site == "lung":
            # v1's independent rule; the retrotracheal station 3p is midline mediastinal, like 7
            assert staging_v1.lung_n([("7" if s == "3p" else s) for s in f["involved"]], f["side"]) == ex.n
            for st in f["involved"]:
                assert any(name in low for name in STATIONS[st][0]), st
            assert _m_from_sites(f["m_sites"]) == ex.m
            side = "right" if f["side"] == "R" else "left"
            assert side in ex.text.split("\n\n")[0].lower() or side in low
        elif ex.site == "esophagus":
            assert sum(f["groups"]) == f["node_count"] and eso_n(f["node_count"]) == ex.n
            assert ex.m == ("M1" if f["m_organs"] else "M0")
        else:
            assert f["n_sub"][:2] == ex.n
            assert ex.m == ("M1" if f["m_organs"] else "M0")
        rest = _without(ex.text, ex.prior_cancer)
        if ex.stated_n:
            assert re.search(r"N([0-3])", ex.stated_n).group(0) == ex.n, ex.stated_n
        else:
            assert not _N_TOKEN.search(rest), _N_TOKEN.search(rest)
        if ex.stated_m:
            assert re.search(r"M(1[a-c]?|0)", ex.stated_m).group(0) == ex.m, ex.stated_m
        else:
            assert not _M_TOKEN.search(rest), _M_TOKEN.search(rest)
    assert sites["lung"] > 2 * sites["breast"] > 0 and sites["esophagus"] > 0


def test_negations_and_traps_appear_in_staging_reports(stg_ex):
    text = "\n".join(e.text for e in stg_ex).lower()
    for phrase in ("no mediastinal or hilar lymphadenopathy", "no distant metastases", "adenoma", "same lobe", "cytology negative"):
        assert phrase in text, phrase
    stated = sum(bool(e.stated_n or e.stated_m) for e in stg_ex) / len(stg_ex)
    assert 0.35 < stated < 0.65, stated
    assert any(e.prior_cancer for e in stg_ex)


# ------------------------------------------------------------------------------ template split

def test_every_bank_has_templates_in_every_split():
    assert len(REGISTRY) > 300
    for bank in REGISTRY.values():
        assert set(bank.split_of) == set(SPLITS), bank.id
        assert bank.split_of == assign_splits(bank.id, bank.templates)  # stable, from the hash alone
    per_split = manifest_info()["template_split"]["templates"]
    assert per_split["train"] > 2 * (per_split["val"] + per_split["test"]) / 2


def test_val_and_test_rows_use_no_train_template_skeleton_or_sentence(rads_ex, stg_ex):
    examples = list(rads_ex) + list(stg_ex)
    used: dict[str, set[str]] = defaultdict(set)
    skeletons: dict[str, set[str]] = defaultdict(set)
    for ex in examples:
        for bank_id, i in ex.used:
            bank = REGISTRY[bank_id]
            assert bank.split_of[i] == ex.split, (bank_id, bank.templates[i], ex.split)
            used[ex.split].add(bank.templates[i])
        sk = ex.skeleton if hasattr(ex, "skeleton") else ex.features["skeleton"]
        assert skeleton_split(sk) == ex.split
        skeletons[ex.split].add(sk)
    for split in ("val", "test"):
        assert used[split] and not used[split] & used["train"], used[split] & used["train"]
        assert skeletons[split] and not skeletons[split] & skeletons["train"]
    train_sentences = {normalize(s) for ex in examples if ex.split == "train" for s in sentences(ex.text)}
    shared = Counter()
    n_eval = 0
    for ex in examples:
        if ex.split == "train":
            continue
        for s in sentences(ex.text):
            n = normalize(s)
            if len(n.split()) >= MIN_WORDS:
                n_eval += 1
                if n in train_sentences:
                    shared[n] += 1
    assert n_eval > 1000
    assert not shared, shared.most_common(10)


def test_iu_no_rads_rows_keep_their_own_split():
    iu = [(f"CXR{i}", ("train", "val", "test")[i % 3], f"FINDINGS: Normal chest {i}.\nIMPRESSION: Negative.") for i in range(200)]
    rows = rads_rows_v2(SEED, n_per_system=20, iu_negatives=iu)
    real = [r for r in rows if r["source"] == "iu_xray:no_rads"]
    assert real and all(r["split"] == dict((i, s) for i, s, _ in iu)[r["report_id"]] for r in real)
    none = [r for r in rows if r["output"] == "No applicable RADS"]
    assert len(real) == round(0.25 * len(none))


# ------------------------------------------------------------------------------ balance, lengths

def test_classes_are_balanced(rows):
    rads = Counter(r["output"] for r in rows if r["task"] == "rads_assignment")
    total = sum(rads.values())
    assert abs(rads["No applicable RADS"] / total - NONE_SHARE) < 0.01
    per_system = Counter(o.rsplit(" ", 1)[0] for o in rads if o != "No applicable RADS" for _ in range(rads[o]))
    assert set(per_system.values()) == {N_PER_SYSTEM}
    for system, categories in SYSTEMS.items():
        counts = [rads[f"{system} {c}"] for c in categories]
        assert max(counts) - min(counts) <= 1, (system, counts)
    for task, labels in (("n_staging", ("N0", "N1", "N2", "N3")), ("m_staging", ("M0", "M1", "M1a", "M1b", "M1c"))):
        c = Counter(r["output"] for r in rows if r["task"] == task)
        shares = [c[label] / N_STAGING for label in labels]
        assert max(shares) - min(shares) < 0.03, (task, c)
    # the splits are roughly 80/10/10 and every split holds every staging label
    splits = Counter(r["split"] for r in rows)
    assert 0.74 < splits["train"] / len(rows) < 0.86
    for task in ("n_staging", "m_staging"):
        for split in SPLITS:
            assert len({r["output"] for r in rows if r["task"] == task and r["split"] == split}) == len(TASKS[task].labels)


def _words(texts):
    return sorted(len(t.split()) for t in texts)


def test_reports_are_full_length_multi_section_reports(rads_ex, stg_ex):
    rads_words = _words(e.text for e in rads_ex if e.system)
    stg_words = _words(e.text for e in stg_ex)
    assert rads_words[len(rads_words) // 2] >= 150 and rads_words[int(0.95 * len(rads_words))] >= 240
    assert stg_words[len(stg_words) // 2] >= 220 and stg_words[-1] <= 900
    assert rads_words[0] >= 40
    sections = [e for e in rads_ex if re.search(r"^(IMPRESSION|Impression|CONCLUSION|Conclusion|SUMMARY|Summary|OPINION|Opinion)\b", e.text, re.M)]
    assert len(sections) > 0.6 * len(rads_ex)
    assert any("\n1. " in e.text for e in rads_ex) and any("\n- " in e.text for e in rads_ex)
    assert any("tumour" in e.text for e in stg_ex) or any("oesophag" in e.text for e in stg_ex)  # British spelling too


# ------------------------------------------------------------------------------ determinism, speed, PHI

def test_same_seed_same_bytes_other_seed_other_rows():
    a = json.dumps(v2_rows(3, rads_per_system=15, staging_reports=60))
    b = json.dumps(v2_rows(3, rads_per_system=15, staging_reports=60))
    c = json.dumps(v2_rows(4, rads_per_system=15, staging_reports=60))
    assert a == b and a != c


def test_fast():
    started = time.perf_counter()
    rows = v2_rows(1, rads_per_system=100, staging_reports=900)
    assert len(rows) > 2000
    assert time.perf_counter() - started < 30  # the full default build (600 per system, 5400 staging) is ~6x this


_PHI = [
    re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"),  # dates
    re.compile(r"(?<!Fleischner )\b(?:19|20)\d{2}\b"),  # years (the Fleischner 2017 guideline is no date of care)
    re.compile(r"\b(?:January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|"
               r"Sept?|Oct|Nov|Dec)\.? \d{1,2}\b"),
    re.compile(r"\b\d{3}[-.]\d{3}[-.]\d{4}\b"),  # phone
    re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),  # SSN
    re.compile(r"\b\d{6,}\b"),  # MRN / accession
    re.compile(r"\S+@\S+\.\w+"),
    re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Miss)\.? [A-Z]"),
    re.compile(r"\b(?:MRN|DOB|Accession|Patient name)\b", re.I),
    re.compile(r"\b(?:9\d|1\d\d)-year-old"),
]


def test_no_phi_shaped_strings(rads_ex, stg_ex):
    for ex in list(rads_ex) + list(stg_ex):
        for pattern in _PHI:
            assert not pattern.search(ex.text), (pattern.pattern, pattern.search(ex.text).group(0))
    assert _PHI[0].search("seen on 03/12/2021") and _PHI[7].search("discussed with Dr. Smith")


# ------------------------------------------------------------------------------ wiring

def test_cli_passes_the_generator_choice(monkeypatch, tmp_path):
    import training.data as data_pkg
    from training.cli import model

    seen = {}

    def fake_build(data_dir, out, **kwargs):
        seen.update(kwargs)
        return {"rads_assignment": {"train": 1, "val": 0, "test": 0}}

    monkeypatch.setattr(data_pkg, "build_dataset", fake_build)
    result = CliRunner().invoke(model, ["data", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"), "--generators", "v2",
                                       "--rads-per-system", "30", "--staging-reports", "120"])
    assert result.exit_code == 0, result.output
    assert seen["generators"] == "v2" and seen["rads_per_system"] == 30 and seen["staging_reports"] == 120
    result = CliRunner().invoke(model, ["data", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0 and seen["generators"] == "v1" and seen["rads_per_system"] == 600
    result = CliRunner().invoke(model, ["data", "--generators", "v3"])
    assert result.exit_code != 0


@pytest.mark.shared_data
def test_builder_swaps_only_the_v2_tasks(shared_data, tmp_path):
    from training.data import build_dataset, load_rows

    kwargs = dict(seed=0, max_per_task=None, report_limit=30, rads_per_system=20, staging_reports=80)
    build_dataset(shared_data, tmp_path / "v1", **kwargs)
    build_dataset(shared_data, tmp_path / "v2", generators="v2", **kwargs)
    v1, v2 = load_rows(tmp_path / "v1"), load_rows(tmp_path / "v2")
    v2_tasks = {"rads_assignment", "n_staging", "m_staging"}
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731 -- a one-line sort key
    assert sorted(map(key, (r for r in v1 if r["task"] not in v2_tasks))) == sorted(map(key, (r for r in v2 if r["task"] not in v2_tasks)))
    swapped = [r for r in v2 if r["task"] in v2_tasks]
    assert swapped and all(r["source"].startswith("generated:v2:") or r["source"] == "iu_xray:no_rads" for r in swapped)
    manifest = json.loads((tmp_path / "v2" / "manifest.json").read_text())
    assert manifest["generators"] == "v2" and manifest["generators_v2"]["template_split"]["banks"] == len(REGISTRY)
    assert json.loads((tmp_path / "v1" / "manifest.json").read_text())["generators"] == "v1"
    with pytest.raises(ValueError):
        build_dataset(shared_data, tmp_path / "bad", generators="v9", **kwargs)
