"""Generators v2: full, realistic multi-section reports for rads_assignment, n_staging and m_staging.

Selected with ``radlite model data --generators v2`` (the default stays v1, which the committed
adapter was trained on). Documented in docs/data-v2-draft.md. Modules:

* :mod:`.phrasing` -- banks of templates split train/val/test by template, skeletons, rendering;
* :mod:`.anatomy` -- normal organ statements, incidentals, look-alikes of other systems' organs;
* :mod:`.rads_systems_a`, :mod:`.rads_systems_b` -- one writer per RADS system;
* :mod:`.nonrads` -- exams no RADS system covers; :mod:`.rads` -- the rads_assignment rows;
* :mod:`.staging` -- lung / breast / oesophagus staging reports, n_staging and m_staging rows;
* :mod:`.stats` -- label distributions and lengths.
"""

from __future__ import annotations

from collections import Counter

from training.data.reports_v2.phrasing import EVAL_SHARE, REGISTRY, SPLITS
from training.data.rows import Row

VERSION = "v2"
V2_TASKS = ("rads_assignment", "n_staging", "m_staging")


def v2_rows(seed: int, *, rads_per_system: int = 600, staging_reports: int = 5400,
            iu_negatives: list[tuple[str, str, str]] | None = None) -> list[Row]:
    """The v2 rows of :data:`V2_TASKS`, in a fixed order. ``iu_negatives``: real chest X-ray reports
    (report_id, split, text) some "No applicable RADS" rows are drawn from (they keep their split)."""
    from training.data.reports_v2.rads import rads_rows_v2  # noqa: PLC0415 -- the generators (~60 ms; they register every phrase bank): only when used
    from training.data.reports_v2.staging import staging_rows_v2  # noqa: PLC0415 -- the generators (~60 ms; they register every phrase bank): only when used

    return rads_rows_v2(seed, n_per_system=rads_per_system, iu_negatives=iu_negatives) + staging_rows_v2(seed, n_reports=staging_reports)


def manifest_info() -> dict:
    """What the data manifest records about the v2 generators and their template split."""
    from training.data.reports_v2 import rads, staging  # noqa: PLC0415 -- the generators (~60 ms; they register every phrase bank): only when used

    per_split = Counter(s for b in REGISTRY.values() for s in b.split_of)
    return {
        "version": VERSION,
        "tasks": list(V2_TASKS),
        "template_split": {
            "rule": "per bank, templates ordered by sha256(bank id, template); the first max(1, round(%.2f k)) -> test, "
                    "the next as many -> val, the rest -> train; skeletons by sha256 of the skeleton id (%.2f test, %.2f val); "
                    "a row draws only templates and skeletons of its own split" % (EVAL_SHARE, EVAL_SHARE, EVAL_SHARE),
            "banks": len(REGISTRY),
            "templates": {s: per_split[s] for s in SPLITS},
        },
        "rads": {"p_state": rads.P_STATE, "p_stated_in_findings": rads.P_STATED_IN_FINDINGS, "p_prior_category": rads.P_PRIOR,
                 "p_other_system_history": rads.P_XHIST, "p_lookalike": rads.P_LOOKALIKE, "none_share": rads.NONE_SHARE,
                 "iu_none_share": rads.IU_NONE_SHARE},
        "staging": {"p_state_tnm": staging.P_STATE_TNM, "p_state_n_only": staging.P_STATE_N, "p_state_m_only": staging.P_STATE_M,
                    "p_prior_cancer": staging.P_PRIOR_CANCER, "sites": {"lung": "2/3", "breast": "1/6", "esophagus": "1/6"}},
    }
