"""The dataset builder (training/data): split enforcement, answer round trips, generator rules.

The first half needs nothing but the repository (pure rules and generators). The second half
builds from ``../shared/data`` and skips cleanly without it (``shared_data`` fixture).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from integration.inference.evidence.chexpert import RuleLabeler
from integration.tasks import TASKS
from integration.tasks.rads_assignment import SYSTEMS
from integration.tasks.temporal_comparison import CHANGES
from training.data import SPLITS, LeakageError, build_dataset, check_split, load_rows, rads_rules as rr
from training.data.ner import mesh_entities
from training.data.rads import rads_examples
from training.data.rows import make_row, seeded_split
from training.data.staging import lung_n, lung_station_n, staging_reports
from training.data.temporal import temporal_pair

# ------------------------------------------------------------------ published rules, hand-checked


@pytest.mark.parametrize(
    ("features", "points", "level"),
    [
        (("solid", "hypoechoic", "wider-than-tall", "smooth", ["none"]), 4, "TR4"),
        (("mixed cystic and solid", "isoechoic", "wider-than-tall", "smooth", ["none"]), 2, "TR2"),
        (("solid", "isoechoic", "wider-than-tall", "ill-defined", ["none"]), 3, "TR3"),
        (("solid", "very hypoechoic", "taller-than-wide", "irregular", ["punctate echogenic foci"]), 13, "TR5"),
        (("solid", "hypoechoic", "wider-than-tall", "lobulated", ["macrocalcifications"]), 7, "TR5"),
        (("spongiform", "isoechoic", "wider-than-tall", "smooth", ["punctate echogenic foci"]), 0, "TR1"),
        (("cystic", "anechoic", "wider-than-tall", "smooth", ["large comet-tail artifacts"]), 0, "TR1"),
    ],
)
def test_tirads_points_and_level(features, points, level):
    assert rr.tirads_points(*features) == points
    assert rr.tirads_level(points) == level


@pytest.mark.parametrize(
    ("aphe", "size", "washout", "capsule", "growth", "category"),
    [
        (True, 15, True, False, False, "LR-5"),  # 10-19 mm, washout alone
        (True, 15, False, True, False, "LR-4"),  # 10-19 mm, capsule alone
        (True, 15, False, False, True, "LR-5"),  # 10-19 mm, threshold growth alone
        (True, 25, False, False, False, "LR-4"),
        (True, 25, False, True, False, "LR-5"),
        (True, 8, True, True, False, "LR-4"),
        (True, 8, False, False, False, "LR-3"),
        (False, 15, True, False, False, "LR-3"),
        (False, 15, True, True, False, "LR-4"),
        (False, 25, True, False, False, "LR-4"),
    ],
)
def test_lirads_table(aphe, size, washout, capsule, growth, category):
    assert rr.lirads_major(aphe, size, washout, capsule, growth) == category


def test_lung_rads_pi_rads_cad_rads_c_rads_o_rads():
    assert rr.mean_diameter(9, 6) == 7.5
    assert rr.lung_rads_nodule("solid", rr.mean_diameter(9, 6)) == "3"
    assert rr.lung_rads_nodule("solid", 5.5) == "2"
    assert rr.lung_rads_nodule("solid", 16) == "4B"
    assert rr.lung_rads_nodule("solid", 5, status="new") == "3"
    assert rr.lung_rads_nodule("solid", 7, status="growing") == "4A"
    assert rr.lung_rads_nodule("part-solid", 10, solid_mm=7) == "4A"
    assert rr.lung_rads_nodule("part-solid", 10, solid_mm=4) == "3"
    assert rr.lung_rads_nodule("ground-glass", 35) == "3"
    assert rr.lung_rads_nodule("ground-glass", 35, status="stable") == "2"
    assert rr.lung_rads_nodule("solid", 9, suspicious=True) == "4X"
    assert rr.lung_rads_nodule("solid", 4, suspicious=True) == "2"  # 4X only upgrades 3/4
    assert rr.lung_rads_exam(["2", "4A", "3"]) == "4A"
    assert rr.lung_rads_exam([]) == "1"

    assert rr.pirads("peripheral", dwi=3, t2w=2, dce_positive=True) == "4"
    assert rr.pirads("peripheral", dwi=3, t2w=2, dce_positive=False) == "3"
    assert rr.pirads("transition", dwi=4, t2w=2, dce_positive=False) == "3"
    assert rr.pirads("transition", dwi=5, t2w=3, dce_positive=False) == "4"
    assert rr.pirads("transition", dwi=2, t2w=4, dce_positive=False) == "4"

    assert rr.cad_rads({"LM": 50}) == "4B"
    assert rr.cad_rads({"LAD": 75, "RCA": 40}) == "4A"
    assert rr.cad_rads({"D1": 75, "OM1": 80, "PDA": 90}) == "4B"  # three territories via branches
    assert rr.cad_rads({"LAD": 100, "LM": 60}) == "5"
    assert rr.cad_rads({"RCA": 40}) == "2"
    assert rr.cad_rads({"LAD": 0}) == "0"
    assert rr.cad_rads({}, nondiagnostic=True) == "N"

    assert rr.c_rads_colon([7, 8, 9]) == "C3"
    assert rr.c_rads_colon([7]) == "C2"
    assert rr.c_rads_colon([4, 5]) == "C1"
    assert rr.c_rads_colon([12]) == "C3"
    assert rr.c_rads_colon([], mass=True) == "C4"

    assert rr.orads("simple cyst", 5) == "2"
    assert rr.orads("simple cyst", 2.5) == "1"
    assert rr.orads("simple cyst", 2.5, postmenopausal=True) == "2"
    assert rr.orads("simple cyst", 12) == "3"
    assert rr.orads("unilocular cyst with solid component", 4, papillary=4) == "5"
    assert rr.orads("unilocular cyst with solid component", 4, papillary=2) == "4"
    assert rr.orads("multilocular cyst", 11, color_score=2) == "4"
    assert rr.orads("multilocular cyst", 6, color_score=2) == "3"
    assert rr.orads("solid", 5, irregular=True) == "5"


def test_lung_n_by_station_and_side():
    assert lung_station_n("11R", "R") == "N1"
    assert lung_station_n("10L", "R") == "N3"  # contralateral hilar
    assert lung_station_n("5", "L") == "N2"
    assert lung_station_n("5", "R") == "N3"  # left-sided station, right tumour
    assert lung_station_n("7", "R") == lung_station_n("7", "L") == "N2"
    assert lung_station_n("1R", "R") == "N3"  # supraclavicular: N3 on either side
    assert lung_n([], "R") == "N0"
    assert lung_n(["10R", "4R"], "R") == "N2"


# ------------------------------------------------------------------ generators, no shared data


def _examples(seed: int, n: int = 24):
    return rads_examples(random.Random(seed), n)


def test_rads_generator_is_deterministic_and_covers_every_category():
    a, b = _examples(5), _examples(5)
    assert a == b
    assert a != _examples(6)
    for system, categories in SYSTEMS.items():
        assert {e.category for e in a if e.system == system} == set(categories)


def test_rads_labels_round_trip_and_are_not_simply_pasted():
    examples = _examples(1, 30)
    for i, e in enumerate(examples):
        make_row("rads_assignment", {"system": e.system, "category": e.category}, report=e.text,
                 source="t", split="train", report_id=f"gen:t:{i}")
    unstated = [e for e in examples if not e.stated]
    assert 0.5 < len(unstated) / len(examples) < 0.9
    for e in unstated:
        assert f"{e.system} {e.category}" not in e.text  # the rule, not a pasted label, decides


_TI = re.compile(r"Composition: (.+?)\. Echogenicity: (.+?)\. Shape: (.+?)\. Margin: (.+?)\. Echogenic foci: (.+?)\.")


def test_generated_tirads_text_gives_its_label():
    names = {"cystic (almost completely cystic)": "cystic", "solid or almost completely solid": "solid"}
    checked = 0
    for e in _examples(2, 60):
        m = _TI.search(e.text) if e.system == "TI-RADS" else None
        if not m:
            continue
        comp, echo, shape, margin, foci = m.groups()
        foci_list = ["none"] if foci == "no echogenic foci" else foci.split(" and ")
        points = rr.tirads_points(names.get(comp, comp), echo, shape, margin, foci_list)
        assert rr.tirads_level(points) == e.category, e.text
        checked += 1
    assert checked >= 10


def test_generated_cad_rads_text_gives_its_label():
    words = {"minimal": 10, "mild": 30, "moderate": 60, "severe": 80}
    segment = {"Left main": "LM", "LAD": "LAD", "First diagonal": "D1", "Left circumflex": "LCx",
               "First obtuse marginal": "OM1", "RCA": "RCA", "PDA": "PDA"}
    for e in _examples(3, 40):
        if e.system != "CAD-RADS" or e.category == "N":
            continue
        stenosis = {}
        for name, text in re.findall(r"(Left main|LAD|First diagonal|Left circumflex|First obtuse marginal|RCA|PDA): ([^.]+)\.", e.text):
            if "occlusion" in text:
                pct = 100
            elif m := re.search(r"(\d+)% stenosis", text):
                pct = int(m.group(1))
            elif m := re.search(r"(minimal|mild|moderate|severe) \(", text):
                pct = words[m.group(1)]
            else:
                pct = 0
            stenosis[segment[name]] = pct
        assert rr.cad_rads(stenosis) == e.category, e.text


def test_staging_generator_is_deterministic_and_balanced():
    a = staging_reports(random.Random(4), 40, 20)
    assert a == staging_reports(random.Random(4), 40, 20)
    assert {r.n for r in a} == {"N0", "N1", "N2", "N3"}
    assert {r.m for r in a if r.site == "lung"} == {"M0", "M1a", "M1b", "M1c"}
    assert {r.m for r in a if r.site == "breast"} == {"M0", "M1"}
    for i, rep in enumerate(a):
        for task, value in (("n_staging", rep.n), ("m_staging", rep.m)):
            make_row(task, value, report=rep.text, source="t", split="train", report_id=f"gen:t:{i}")
        if not rep.stated:
            assert f"c{rep.n}" not in rep.text


def test_temporal_pairs_use_the_change_vocabulary():
    lung = {"Lung Opacity", "Consolidation", "Pneumonia", "Atelectasis", "Edema", "Lung Lesion"}
    base = ["The heart is normal in size.", "No pleural effusion.", "Lungs well expanded and clear.", "No acute bony abnormality."]
    labels = [{"Cardiomegaly"}, {"Pleural Effusion"}, lung, set()]
    r = random.Random(0)
    seen = set()
    for i in range(60):
        prior, current, value = temporal_pair(r, base, labels)
        assert len(value) <= 3
        for item in value:
            assert item["change"] in CHANGES
            seen.add(item["change"])
        make_row("temporal_comparison", value, report=current, prior_report=prior, source="t", split="train",
                 report_id=f"gen:t:{i}")
        lung_edit = any(w in v["finding"] for v in value for w in ("consolidation", "atelectasis", "nodule", "edema", "congestion"))
        if lung_edit:  # base sentences about an edited finding's labels are gone from both reports
            assert "Lungs well expanded and clear." not in prior + current
        else:
            assert "Lungs well expanded and clear." in current
    assert seen == set(CHANGES)


def test_rule_labeler_core_rules():
    labeler = RuleLabeler(
        {"Pleural Effusion": ["effusion"], "Pneumothorax": ["pneumothorax"], "Cardiomegaly": ["cardiomegaly", "heart size", "the heart"],
         "Atelectasis": ["atelecta"], "Support Devices": ["plate"]},
        {"Pleural Effusion": ["pericardial effusion"]},
    )
    lab = labeler.label("No pneumothorax. Small left effusion. Heart size is normal. Basilar opacity may represent atelectasis.")
    assert lab.status("Pneumothorax") == "negative"
    assert lab.status("Pleural Effusion") == "positive"
    assert lab.status("Cardiomegaly") == "negative"
    assert lab.status("Atelectasis") == "uncertain"
    assert lab.status("No Finding") is None
    lab = labeler.label("Small pericardial effusion. The heart is XXXX. Degenerative endplate changes.")
    assert lab.status("Pleural Effusion") is None  # unmention
    assert lab.status("Cardiomegaly") is None  # neutral anatomical mention is ignored
    assert lab.status("Support Devices") is None  # "endplate" is not a plate
    assert lab.status("No Finding") == "positive"
    assert labeler.label("Stable cardiomegaly.").status("Cardiomegaly") == "positive"
    assert labeler.label("Heart size is stable.").status("Cardiomegaly") == "uncertain"  # CheXpert's rule
    assert labeler.label("No definite effusion.").status("Pleural Effusion") == "uncertain"


def test_transplant_moves_a_positive_sentence_between_train_reports_and_relabels():
    from training.data.iu import Report
    from training.data.transplant import SOURCE, _value, transplant_rows

    labeler = RuleLabeler({"Pneumothorax": ["pneumothorax"], "Support Devices": ["catheter"],
                           "Pleural Effusion": ["effusion"]}, {})
    reports = [
        Report(1, "Small right pneumothorax. No effusion.", "Pneumothorax.", (), "train"),
        Report(2, "Heart is normal. Mild scoliosis.", "", (), "train"),
        Report(3, "Right catheter tip in the SVC. No pneumothorax.", "", (), "train"),
        Report(4, "Heart size normal.", "", (), "train"),
        Report(5, "Large left pneumothorax.", "", (), "test"),
        Report(6, "Left catheter tip in the atrium.", "", (), "val"),
    ]
    values = {r.uid: _value(r, labeler) for r in reports}
    rows = transplant_rows(random.Random(0), reports, labeler, values, target=3)
    assert rows == transplant_rows(random.Random(0), reports, labeler, values, target=3)
    assert {r["split"] for r in rows} == {"train"} and {r["source"] for r in rows} == {SOURCE}
    texts = [r["input"]["report"] for r in rows]
    assert not any("Large left" in t or "atrium" in t for t in texts)  # val and test are never donors
    values_out = [TASKS["abnormality_detection"].parse(r["output"]).value for r in rows]
    # One train positive each, target 3: two rows made for each; effusion has no positive sentence.
    assert len(rows) == 4
    assert sum("Small right pneumothorax." in t for t in texts) == 2
    assert not any(v["Pleural Effusion"] == "positive" for v in values_out)
    thorax = [(t, v) for t, v in zip(texts, values_out) if "Small right pneumothorax." in t]
    for _, v in thorax:
        assert v["Pneumothorax"] == "positive" and v["No Finding"] == "negative"
    assert "CXR1" not in {r["report_id"] for r in rows if "Small right pneumothorax." in r["input"]["report"]}
    for row, v in zip(rows, values_out):
        if "Right catheter tip in the SVC." not in row["input"]["report"] or row["report_id"] == "CXR3":
            continue
        assert v["Support Devices"] == "positive"
        # a device alone leaves a normal host normal (CheXpert's No Finding rule), relabelled, not assumed
        host_normal = values[int(row["report_id"][3:])]["No Finding"] == "positive"
        assert (v["No Finding"] == "positive") == host_normal
    assert transplant_rows(random.Random(0), reports, labeler, values, target=1) == []


def test_transplant_replaces_the_hosts_own_sentence_about_the_finding():
    from training.data.iu import Report
    from training.data.transplant import _value, transplant_rows

    labeler = RuleLabeler({"Pneumothorax": ["pneumothorax"]}, {})
    reports = [
        Report(1, "Small right pneumothorax.", "", (), "train"),
        Report(2, "No pneumothorax. Heart is normal. No pneumothorax is seen.", "", (), "train"),
        Report(3, "Heart is normal.", "No pneumothorax.", (), "train"),  # its impression names it: no host
    ]
    values = {r.uid: _value(r, labeler) for r in reports}
    rows = transplant_rows(random.Random(0), reports, labeler, values, target=3)
    # A coherent report one sentence away from its host's own row, never "no pneumothorax" beside it.
    assert [(r["report_id"], r["input"]["report"]) for r in rows] == [
        ("CXR2", "FINDINGS: Small right pneumothorax. Heart is normal."),
        ("CXR2", "FINDINGS: Small right pneumothorax. Heart is normal."),
    ]
    assert TASKS["abnormality_detection"].parse(rows[0]["output"]).value["Pneumothorax"] == "positive"


def test_mesh_terms_to_entities():
    assert sorted(mesh_entities("Opacity/lung/base/left/patchy")) == [
        ("left base", "ANAT-DP"), ("lung", "ANAT-DP"), ("opacity", "OBS-DP")]
    assert sorted(mesh_entities("Aorta/tortuous/mild")) == [("aorta", "ANAT-DP"), ("tortuous", "OBS-DP")]
    assert mesh_entities("Pulmonary Atelectasis") == [("atelectasis", "OBS-DP")]
    assert mesh_entities("normal") == []
    assert mesh_entities("Technical Quality of Image Unsatisfactory ") == []


def test_seeded_split_is_fixed_and_roughly_80_10_10():
    draws = [seeded_split(f"gen:x:{i}", 0) for i in range(4000)]
    assert draws == [seeded_split(f"gen:x:{i}", 0) for i in range(4000)]
    assert 0.76 < draws.count("train") / 4000 < 0.84
    assert draws.count("test") > 300


def test_cli_reports_a_missing_data_dir(tmp_path):
    from training.cli import model

    result = CliRunner().invoke(model, ["data", "--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert "public radiology data not found" in result.output
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ built from ../shared/data

SMALL = dict(rads_per_system=30, staging_reports=120)
needs_data = pytest.mark.shared_data


@pytest.fixture(scope="module")
def full_build(shared_data: Path, tmp_path_factory) -> Path:
    """Every IU report (so the leakage checks see all of them), small synthetic sets."""
    out = tmp_path_factory.mktemp("data-full")
    build_dataset(shared_data, out, seed=0, max_per_task=None, **SMALL)
    return out


@pytest.fixture(scope="module")
def rows(full_build: Path) -> list[dict]:
    return load_rows(full_build)


def _independent_split(data_dir: Path) -> tuple[dict[int, str], set[int]]:
    """The split straight from the raw files, without the builder's code."""
    annotation = json.loads((data_dir / "iu_xray" / "r2gen_annotation.json").read_text())
    r2gen = {int(e["id"].split("_")[0][3:]): e["split"] for entries in annotation.values() for e in entries}
    negbio = {int(x[3:]) for x in (data_dir / "negbio" / "openi-testset.txt").read_text().split()}
    return r2gen, negbio | {u for u, s in r2gen.items() if s == "test"}


@needs_data
def test_no_test_report_in_train_or_val_for_any_task(rows, shared_data):
    r2gen, test = _independent_split(shared_data)
    assert len(test) > 1000
    iu_rows = 0
    for row in rows:
        m = re.fullmatch(r"CXR(\d+)", row["report_id"])
        if not m:
            assert row["report_id"].startswith("gen:")
            continue
        iu_rows += 1
        uid = int(m.group(1))
        if uid in test:
            assert row["split"] == "test", row
        else:
            assert row["split"] == ("val" if r2gen.get(uid) == "val" else "train"), row
    assert iu_rows > 15000


@needs_data
def test_builder_refuses_a_leaked_row(rows, shared_data):
    from training.data.build import check_text_leakage, held_out_sentences
    from training.data.iu import load_reports

    leaked = dict(next(r for r in rows if r["split"] == "test" and r["report_id"].startswith("CXR")))
    leaked["split"] = "train"
    with pytest.raises(LeakageError):
        check_split([leaked], shared_data)
    # test report text inside a train row of another report (or a generated one) is caught too
    reports = load_reports(shared_data)
    check_text_leakage([r for r in rows if r["split"] != "test"], reports)
    sentence = sorted(held_out_sentences(reports))[0]
    forged = {**rows[0], "split": "train", "report_id": "gen:forged", "input": {"report": f"FINDINGS: {sentence}"}}
    with pytest.raises(LeakageError):
        check_text_leakage([forged], reports)


@needs_data
def test_every_output_parses_and_round_trips(rows):
    for row in rows:
        task = TASKS[row["task"]]
        result = task.parse(row["output"])
        assert result.parsed, (row["task"], row["output"], result.error)
        assert task.render(result.value) == row["output"]
        assert set(row["input"]) == {"report", *task.requires}
        assert set(row) == {"task", "input", "output", "source", "split", "report_id"}


@needs_data
def test_every_task_has_train_and_test_rows_and_counts_match(rows, full_build):
    counts = json.loads((full_build / "counts.json").read_text())
    assert set(counts) == set(TASKS)
    for task in TASKS:
        for split in ("train", "test"):
            assert counts[task][split] > 0, (task, split)
        for split in SPLITS:
            assert counts[task][split] == sum(1 for r in rows if r["task"] == task and r["split"] == split)


@needs_data
def test_transplanted_rows_are_train_only_and_lift_every_finding(rows):
    from training.data.transplant import DEFAULT_TARGET, FINDINGS, SOURCE

    ab = [r for r in rows if r["task"] == "abnormality_detection"]
    moved = [r for r in ab if r["source"] == SOURCE]
    assert moved and {r["split"] for r in moved} == {"train"}
    parse = TASKS["abnormality_detection"].parse
    train_positives = {label: sum(parse(r["output"]).value[label] == "positive" for r in ab if r["split"] == "train")
                       for label in FINDINGS}
    assert min(train_positives.values()) >= DEFAULT_TARGET, train_positives


@needs_data
def test_generated_rows_are_labelled_generated(rows):
    real = {"impression_generation": "iu_xray:impression", "abnormality_detection": "chexpert_rules",
            "radiology_ner": "iu_xray:mesh"}
    for row in rows:
        if row["task"] in real:
            assert row["source"].startswith(real[row["task"]])
        elif row["report_id"].startswith("gen:") or row["task"] in ("temporal_comparison", "radiology_nli", "radiology_qa"):
            assert row["source"].startswith("generated:"), row["source"]


@needs_data
def test_impression_is_never_in_its_own_input(rows):
    for row in rows:
        if row["task"] == "impression_generation":
            assert "IMPRESSION:" not in row["input"]["report"]


@needs_data
def test_build_is_deterministic_and_caps(shared_data, tmp_path):
    kwargs = dict(seed=3, max_per_task=40, report_limit=40, **SMALL)
    a = build_dataset(shared_data, tmp_path / "a", **kwargs)
    b = build_dataset(shared_data, tmp_path / "b", **kwargs)
    assert a == b
    for split in SPLITS:
        assert (tmp_path / "a" / f"{split}.jsonl").read_bytes() == (tmp_path / "b" / f"{split}.jsonl").read_bytes()
    assert all(c["train"] <= 40 for c in a.values())
    c = build_dataset(shared_data, tmp_path / "c", **{**kwargs, "seed": 4})
    assert (tmp_path / "a" / "train.jsonl").read_bytes() != (tmp_path / "c" / "train.jsonl").read_bytes()
    assert sum(x["test"] for x in c.values()) > 0
