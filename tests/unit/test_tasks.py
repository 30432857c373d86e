"""The task contract: round trips, tolerant parsing, never-raising parse, prompt layout."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from integration.tasks import (
    TASKS,
    TaskInput,
    TaskResult,
    abnormality_detection,
    impression_generation,
    m_staging,
    n_staging,
    radiology_ner,
    radiology_qa,
    rads_assignment,
    temporal_comparison,
)
from integration.tasks.text import clean_phrase

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# ---------------------------------------------------------------- strategies over valid values

def _free_text(valid):
    return st.text(min_size=1, max_size=80).map(str.strip).filter(valid)


def _phrase(extra_ok=lambda s: True):
    return st.text(min_size=1, max_size=40).map(clean_phrase).filter(lambda s: bool(s) and extra_ok(s))


_RADS_VALUES = [{"system": None, "category": None}] + [
    {"system": s, "category": c} for s, cats in rads_assignment.SYSTEMS.items() for c in cats
]

VALUES = {
    "rads_assignment": st.sampled_from(_RADS_VALUES),
    "impression_generation": _free_text(
        lambda s: bool(s) and impression_generation.parse_impression(s) == s
    ),
    "radiology_qa": _free_text(lambda s: bool(s) and radiology_qa.parse_answer(s) == s),
    "temporal_comparison": st.lists(
        st.tuples(
            _phrase(temporal_comparison.is_valid_finding),
            st.sampled_from(temporal_comparison.CHANGES),
        ),
        max_size=6,
    ).map(temporal_comparison.make_value),
    "radiology_ner": st.lists(
        st.tuples(_phrase(radiology_ner.is_valid_text), st.sampled_from(radiology_ner.ENTITY_LABELS)),
        max_size=6,
    ).map(radiology_ner.make_value),
    "n_staging": st.sampled_from(n_staging.LABELS),
    "m_staging": st.sampled_from(m_staging.LABELS),
    "radiology_nli": st.sampled_from(("entailment", "contradiction", "neutral")),
    "abnormality_detection": st.fixed_dictionaries(
        {label: st.sampled_from(abnormality_detection.STATUSES)
         for label in abnormality_detection.CHEXPERT_LABELS}
    ),
}


def test_every_task_has_a_strategy():
    assert set(VALUES) == set(TASKS)


@pytest.mark.parametrize("name", sorted(VALUES))
@SETTINGS
@given(data=st.data())
def test_round_trip(name, data):
    task = TASKS[name]
    value = data.draw(VALUES[name])
    result = task.parse(task.render(value))
    assert result.parsed, result.error
    assert result.value == value


def test_rads_round_trip_exhaustive():
    task = TASKS["rads_assignment"]
    for value in _RADS_VALUES:
        assert task.parse(task.render(value)).value == value
    assert len(task.labels) == len(_RADS_VALUES)
    assert set(task.labels) == {task.render(v) for v in _RADS_VALUES}


def test_scored_tasks_answer_with_their_labels():
    for task in TASKS.values():
        if task.mode == "score" and task.labels:
            assert [task.parse(task.render(lab)).value for lab in task.labels] == list(task.labels)


# ---------------------------------------------------------------- parse never raises

_ARBITRARY = st.one_of(
    st.text(max_size=300),
    # Long strings built cheaply by repetition (up to ~20k chars).
    st.builds(lambda s, n: (s * n)[:20_000], st.text(min_size=1, max_size=50), st.integers(1, 400)),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),  # control characters
)


@pytest.mark.parametrize("name", sorted(TASKS))
@SETTINGS
@given(text=_ARBITRARY)
def test_parse_never_raises(name, text):
    result = TASKS[name].parse(text)
    assert isinstance(result, TaskResult)
    assert result.parsed == (result.error is None)
    assert result.raw == text


_HOSTILE = [
    " " * 20_000,
    ":" * 20_000,
    "\n" * 20_000,
    "a" * 20_000,
    "a," * 10_000,
    "BI-RADS " * 2_500,
    "LR-" * 6_000,
    "OBS-DP " * 3_000,
    "positive: " * 2_000,
    "pleural effusion" + " " * 20_000 + "x",
    "effusion:" + " " * 20_000 + "x",
    "1. " * 7_000,
    "and " * 5_000,
    "N" * 20_000,
    "\u2028\x00\x85" * 6_000,
]


@pytest.mark.parametrize("name", sorted(TASKS))
def test_parse_handles_hostile_input(name):
    # Inputs shaped to trigger catastrophic regex backtracking: a regression would hang here for
    # minutes. (No wall-clock assertion: speed is measured in bench/, not in unit tests.)
    task = TASKS[name]
    for text in _HOSTILE:
        assert isinstance(task.parse(text), TaskResult)


def test_parse_non_string_input():
    result = TASKS["n_staging"].parse(None)  # type: ignore[arg-type]
    assert not result.parsed and result.error


# ---------------------------------------------------------------- realistic model output

NEG = {label: "negative" for label in abnormality_detection.CHEXPERT_LABELS}

EXAMPLES = [
    # rads_assignment
    ("rads_assignment", "BI-RADS 4A", {"system": "BI-RADS", "category": "4A"}),
    ("rads_assignment", "BIRADS 4", {"system": "BI-RADS", "category": "4"}),
    ("rads_assignment", "  bi-rads category 4a. ", {"system": "BI-RADS", "category": "4A"}),
    ("rads_assignment", "Answer: LR-5", {"system": "LI-RADS", "category": "LR-5"}),
    ("rads_assignment", "LI-RADS 5 (definitely HCC)", {"system": "LI-RADS", "category": "LR-5"}),
    ("rads_assignment", "li-rads LR-TIV", {"system": "LI-RADS", "category": "LR-TIV"}),
    ("rads_assignment", "ACR TI-RADS TR4", {"system": "TI-RADS", "category": "TR4"}),
    ("rads_assignment", "TIRADS 3", {"system": "TI-RADS", "category": "TR3"}),
    ("rads_assignment", "Lung-RADS 4X", {"system": "Lung-RADS", "category": "4X"}),
    ("rads_assignment", "lung rads: 4b", {"system": "Lung-RADS", "category": "4B"}),
    ("rads_assignment", "PI-RADS score 5.", {"system": "PI-RADS", "category": "5"}),
    ("rads_assignment", "O-RADS US 3", {"system": "O-RADS", "category": "3"}),
    ("rads_assignment", "CAD-RADS 4A/P2", {"system": "CAD-RADS", "category": "4A"}),
    ("rads_assignment", "CAD-RADS N", {"system": "CAD-RADS", "category": "N"}),
    ("rads_assignment", "NI-RADS 2A", {"system": "NI-RADS", "category": "2a"}),
    ("rads_assignment", "VI-RADS 2", {"system": "VI-RADS", "category": "2"}),
    ("rads_assignment", "C-RADS C2, E1", {"system": "C-RADS", "category": "C2"}),
    ("rads_assignment", "The findings are BI-RADS 2, benign.", {"system": "BI-RADS", "category": "2"}),
    ("rads_assignment", "No applicable RADS.", {"system": None, "category": None}),
    ("rads_assignment", "none", {"system": None, "category": None}),
    ("rads_assignment", "Not applicable", {"system": None, "category": None}),
    # impression_generation
    ("impression_generation", "No acute cardiopulmonary process.", "No acute cardiopulmonary process."),
    ("impression_generation", "IMPRESSION: No acute process.\n", "No acute process."),
    ("impression_generation", "**Impression:**\n1. Small effusion.", "1. Small effusion."),
    # temporal_comparison
    (
        "temporal_comparison",
        "pleural effusion: improved; cardiomegaly: unchanged",
        [{"finding": "cardiomegaly", "change": "unchanged"},
         {"finding": "pleural effusion", "change": "improved"}],
    ),
    (
        "temporal_comparison",
        "Answer:\n- Pleural Effusion: decreased\n- Cardiomegaly: stable.\n- RUL nodule: new",
        [{"finding": "cardiomegaly", "change": "unchanged"},
         {"finding": "pleural effusion", "change": "improved"},
         {"finding": "rul nodule", "change": "new"}],
    ),
    (
        "temporal_comparison",
        "1. pneumothorax: cleared\n2. edema: slightly worse",
        [{"finding": "edema", "change": "worsened"}, {"finding": "pneumothorax", "change": "resolved"}],
    ),
    (
        "temporal_comparison",
        "consolidation: increased, effusion: better",
        [{"finding": "consolidation", "change": "worsened"}, {"finding": "effusion", "change": "improved"}],
    ),
    ("temporal_comparison", "none", []),
    ("temporal_comparison", "None.", []),
    # radiology_ner
    (
        "radiology_ner",
        "OBS-DP: pleural effusion\nANAT-DP: left lung",
        [{"text": "left lung", "label": "ANAT-DP"}, {"text": "pleural effusion", "label": "OBS-DP"}],
    ),
    (
        "radiology_ner",
        "Entities:\n- obs-da: Pneumothorax.\n- OBS U: pneumonia\n* ANAT-DP: Lungs\nOBS-DP: pleural effusion",
        [{"text": "lungs", "label": "ANAT-DP"}, {"text": "pleural effusion", "label": "OBS-DP"},
         {"text": "pneumonia", "label": "OBS-U"}, {"text": "pneumothorax", "label": "OBS-DA"}],
    ),
    ("radiology_ner", "effusion (OBS-DP); heart (ANAT-DP)",
     [{"text": "effusion", "label": "OBS-DP"}, {"text": "heart", "label": "ANAT-DP"}]),
    ("radiology_ner", "OBS-DP: edema\nOBS-DP: Edema", [{"text": "edema", "label": "OBS-DP"}]),
    (
        "radiology_ner",  # grouped by label (format 2); a later label-last item keeps its own label
        "ANAT-DP: left lung; heart\nOBS-DP: effusion; edema; pneumonia (OBS-U)\nnone of these: x",
        [{"text": "edema", "label": "OBS-DP"}, {"text": "effusion", "label": "OBS-DP"},
         {"text": "heart", "label": "ANAT-DP"}, {"text": "left lung", "label": "ANAT-DP"},
         {"text": "pneumonia", "label": "OBS-U"}],
    ),
    ("radiology_ner", "none", []),
    # n_staging
    ("n_staging", "N2", "N2"),
    ("n_staging", "n1.", "N1"),
    ("n_staging", "Answer: pN1a", "N1"),
    ("n_staging", "The nodal stage is cN2b (ipsilateral nodes).", "N2"),
    ("n_staging", "ypN0(i+)", "N0"),
    ("n_staging", "N1mi", "N1"),
    # m_staging
    ("m_staging", "M0", "M0"),
    ("m_staging", "M1a", "M1a"),
    ("m_staging", "m1b.", "M1b"),
    ("m_staging", "Answer: pM1c(1)", "M1c"),
    ("m_staging", "cM0", "M0"),
    ("m_staging", "M1 (distant metastases)", "M1"),
    ("m_staging", "M1d", "M1"),
    # radiology_nli
    ("radiology_nli", "Entailment.", "entailment"),
    # radiology_ner: an entity named like a label, after a "LABEL:" line start (found by hypothesis)
    ("radiology_ner", "ANAT-DP: 0; anat", [{"text": "0", "label": "ANAT-DP"}, {"text": "anat", "label": "ANAT-DP"}]),
    # abnormality_detection
    (
        "abnormality_detection",
        "positive: Cardiomegaly, Pleural Effusion; uncertain: Atelectasis",
        NEG | {"Cardiomegaly": "positive", "Pleural Effusion": "positive", "Atelectasis": "uncertain"},
    ),
    ("abnormality_detection", "positive: No Finding", NEG | {"No Finding": "positive"}),
    ("abnormality_detection", "positive: none", NEG),
    # the checklist (prompt format 3): labels not listed are negative, short forms and bullets read
    (
        "abnormality_detection",
        "Cardiomegaly: positive\nLung Opacity: negative\nEdema: Uncertain\nNo Finding: negative",
        NEG | {"Cardiomegaly": "positive", "Edema": "uncertain"},
    ),
    (
        "abnormality_detection",
        "- Effusion: positive\n- support devices: positive\n- Hiatal hernia: positive",  # unknown skipped
        NEG | {"Pleural Effusion": "positive", "Support Devices": "positive"},
    ),
    (
        "abnormality_detection",
        "Edema: uncertain\nEdema: positive\nNo Finding: negative",  # positive beats uncertain
        NEG | {"Edema": "positive"},
    ),
    (
        "abnormality_detection",
        "Positive findings: cardiomegaly and effusion.\nUncertain: pneumonia\nNegative: pneumothorax",
        NEG | {"Cardiomegaly": "positive", "Pleural Effusion": "positive", "Pneumonia": "uncertain"},
    ),
    (
        "abnormality_detection",
        "POSITIVE: support devices, hiatal hernia",  # unknown name skipped
        NEG | {"Support Devices": "positive"},
    ),
    (
        "abnormality_detection",
        "uncertain: edema; positive: Edema",  # positive beats uncertain
        NEG | {"Edema": "positive"},
    ),
    # radiology_qa
    ("radiology_qa", "Answer: Right lower lobe.", "Right lower lobe."),
    ("radiology_qa", "  yes\n", "yes"),
]


@pytest.mark.parametrize("name,text,expected", EXAMPLES)
def test_realistic_outputs(name, text, expected):
    result = TASKS[name].parse(text)
    assert result.parsed, result.error
    assert result.value == expected


GARBAGE = [
    ("rads_assignment", "BI-RADS 9"),
    ("rads_assignment", "PI-RADS 7"),
    ("rads_assignment", "Lung-RADS 3A"),
    ("rads_assignment", "LI-RADS 6"),
    ("n_staging", "NX"),
    ("n_staging", "T2"),
    ("m_staging", "MX"),
    ("m_staging", "M2"),
    ("radiology_nli", "maybe"),
    ("abnormality_detection", "Cardiomegaly"),  # no section header
    ("abnormality_detection", "positive: lorem ipsum"),
    ("abnormality_detection", "Lorem ipsum: positive"),  # a checklist line of no known label
    ("temporal_comparison", "pleural effusion is there"),
    ("radiology_ner", "pleural effusion"),
    ("impression_generation", "Impression:"),
    ("radiology_qa", "Answer:   "),
] + [(name, text) for name in sorted(TASKS) for text in ("", "   ", "lorem ipsum")
     if name not in ("impression_generation", "radiology_qa") or not text.strip()]


@pytest.mark.parametrize("name,text", GARBAGE)
def test_garbage_is_unparsed(name, text):
    result = TASKS[name].parse(text)
    assert not result.parsed
    assert result.value is None
    assert result.error


def test_ner_presence():
    assert radiology_ner.presence("OBS-DP") == "present"
    assert radiology_ner.presence("OBS-DA") == "absent"
    assert radiology_ner.presence("OBS-U") == "uncertain"
    assert radiology_ner.presence("ANAT-DP") is None


def test_render_rejects_invalid_values():
    with pytest.raises(ValueError):
        TASKS["rads_assignment"].render({"system": "BI-RADS", "category": "9"})
    with pytest.raises(ValueError):
        TASKS["temporal_comparison"].render([{"finding": "x", "change": "bigger"}])
    with pytest.raises(ValueError):
        TASKS["radiology_ner"].render([{"text": "Upper Case", "label": "OBS-DP"}])
    with pytest.raises(ValueError):
        TASKS["abnormality_detection"].render({"Cardiomegaly": "positive"})


def test_empty_renders():
    assert TASKS["temporal_comparison"].render([]) == "none"
    assert TASKS["radiology_ner"].render([]) == "none"
    value = [{"text": "lung", "label": "ANAT-DP"}, {"text": "edema", "label": "OBS-DP"},
             {"text": "effusion", "label": "OBS-DP"}, {"text": "heart", "label": "ANAT-DP"}]
    assert TASKS["radiology_ner"].render(value) == "ANAT-DP: heart; lung\nOBS-DP: edema; effusion"
    checklist = TASKS["abnormality_detection"].render(NEG).splitlines()
    assert len(checklist) == 14 and all(line.endswith(": negative") for line in checklist)
    assert checklist[0].startswith("Enlarged Cardiomediastinum") and checklist[-1].startswith("No Finding")
    assert TASKS["rads_assignment"].render({"system": None, "category": None}) == "No applicable RADS"


# ---------------------------------------------------------------- prompts and inputs

FULL_INPUT = TaskInput(
    report="Findings: small left effusion.",
    prior_report="Moderate left effusion.",
    hypothesis="There is an effusion.",
    question="Which side is the effusion?",
)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_messages_layout(name):
    task = TASKS[name]
    task.check_input(FULL_INPUT)
    messages = task.messages(FULL_INPUT)
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert user.startswith("Report:")
    assert user.index(f"[TASK: {name}]") > user.index(FULL_INPUT.report)
    for field in task.requires:
        assert getattr(FULL_INPUT, field) in user


@pytest.mark.parametrize(
    "name,field",
    [("radiology_nli", "hypothesis"), ("radiology_qa", "question"),
     ("temporal_comparison", "prior_report")],
)
def test_check_input_requires_field(name, field):
    task = TASKS[name]
    assert field in task.requires
    with pytest.raises(ValueError, match=field):
        task.check_input(TaskInput(report="Normal chest."))
    with pytest.raises(ValueError, match=field):
        task.check_input(TaskInput(report="Normal chest.", **{field: "   "}))


def test_check_input_requires_report():
    with pytest.raises(ValueError, match="report"):
        TASKS["n_staging"].check_input(TaskInput(report="  "))


def test_task_settings():
    assert TASKS["rads_assignment"].max_new_tokens == 30
    assert TASKS["m_staging"].max_new_tokens == 10
    assert TASKS["n_staging"].max_new_tokens == 64
    assert TASKS["abnormality_detection"].max_new_tokens == 128  # the checklist is ~97 tokens
    for name in ("impression_generation", "temporal_comparison", "radiology_ner", "radiology_qa"):
        assert TASKS[name].max_new_tokens == 256
    assert {n for n, t in TASKS.items() if t.mode == "score"} == {"n_staging", "m_staging", "radiology_nli",
                                                                 "abnormality_detection"}
    for task in TASKS.values():
        gold = [task.parse(task.render(ONE_VALUE[task.name])).value]
        assert task.primary_metric in task.score(gold, gold)


ONE_VALUE = {
    "rads_assignment": {"system": "BI-RADS", "category": "2"},
    "impression_generation": "No acute process.",
    "radiology_qa": "Yes.",
    "temporal_comparison": [{"finding": "edema", "change": "new"}],
    "radiology_ner": [{"text": "edema", "label": "OBS-DP"}],
    "n_staging": "N1",
    "m_staging": "M0",
    "radiology_nli": "neutral",
    "abnormality_detection": NEG | {"Edema": "positive"},
}


def test_task_facts_live_on_the_task() -> None:
    """Routing, the worker and the mapping checks read these facts from each Task (issue 21): what
    runs on a pushed report, what needs the prior report, what each answer becomes in the EHR."""
    from integration.tasks import TASKS, Task
    from integration.tasks.base import WRITE_KINDS

    assert {name for name, t in TASKS.items() if not t.routable} == {"radiology_nli", "radiology_qa"}
    assert {name for name, t in TASKS.items() if t.needs_prior} == {"temporal_comparison"}
    assert {t.write_kind for t in TASKS.values()} <= set(WRITE_KINDS)
    base = TASKS["n_staging"]
    with pytest.raises(ValueError, match="write_kind"):
        Task(**{**base.__dict__, "write_kind": "observation"})
    toy = Task(**{**base.__dict__, "name": "toy", "requires": ("question",)})
    assert not toy.routable and not toy.needs_prior
