"""Turn a job's typed results into one FHIR R4 transaction Bundle.

What one Bundle holds (see docs/writeback.md for the reasoning):

* a ``Device`` per model bundle that produced results (conditional create on
  ``urn:radlite:device|<name>@<version>:<sha256>``);
* ``Observation``\\ s, status ``preliminary``, category imaging, subject/encounter/effective copied
  from the report, ``derivedFrom`` the report's ImagingStudy(ies) when it names any, ``device`` the
  model, a deterministic ``identifier`` (sha256 over report key + version + task + finding + model
  name/version/hash) and a conditional create on it, so a replay creates nothing new. R4 does not
  allow ``derivedFrom`` to point at a DiagnosticReport (a validating server rejects the whole
  transaction); the report version is linked where R4 allows it: the Provenance's ``entity`` and
  each Observation's ``derivation-reference`` extensions;
* the summary annotation -- the generated impression as an Observation with ``valueString``;
* when the job supersedes an earlier written version: a ``PUT`` per earlier Observation setting it
  to ``entered-in-error`` (with ``If-Match`` on the version read);
* one ``Provenance``: target = every resource made or changed, agent = the Device(s), entity
  (role source) = the report version; conditional create on a deterministic ``meta.tag`` (R4
  Provenance has no ``identifier`` element, but ``_tag`` is searchable on every resource).

Every resource made carries ``meta.security`` AIAST (HL7 v3 ObservationValue: "artificial
intelligence asserted"). Parse failures are not written; they are counted in :class:`TransactionPlan`.

The finished Bundle is checked as a validating server would check it
(:func:`integration.fhir.conformance.check_bundle`); one that does not conform is a
:class:`BuildError`, never sent.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any, Iterable
from urllib.parse import quote

from integration.fhir.conformance import allowed_targets, check_bundle, reference_type
from integration.fhir.report import ReportTextError, report_identifier, report_text_and_path
from integration.mappings.critical import Finding, critical_findings
from integration.mappings.followup import FollowupCodes
from integration.mappings.loader import Mappings
from integration.mappings.schema import (
    CategoryMapping,
    ChangeMapping,
    Concept,
    EntityMapping,
    LabelStatusMapping,
    RadsMapping,
    TextMapping,
    text_concept,
)

# Where in the report a result was read (FHIR extensions pack, "Resource Derivation Reference"):
# the report version, the element holding the text, and the sentence's offset and length in it.
DERIVATION_REFERENCE = "http://hl7.org/fhir/StructureDefinition/derivation-reference"

AIAST = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "AIAST",
    "display": "Artificial Intelligence asserted",
}
RESULT_SYSTEM = "urn:radlite:result"
DEVICE_SYSTEM = "urn:radlite:device"
PROVENANCE_TAG_SYSTEM = "urn:radlite:provenance"
AUDIT_TAG_SYSTEM = "urn:radlite:audit-event"
ALERT_SYSTEM = "urn:radlite:critical-result"
FLAG_SYSTEM = "urn:radlite:critical-flag"
FOLLOWUP_SYSTEM = "urn:radlite:followup"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
COMMUNICATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"
# A rule's category as the Communication's priority (FHIR request-priority).
ALERT_PRIORITY = {"critical": "stat", "urgent": "asap", "incidental_actionable": "urgent"}
ALERT_WORDS = {"critical": "Critical result", "urgent": "Urgent result",
               "incidental_actionable": "Actionable finding"}
# Who may receive a Communication (R4 Communication.recipient), as the adapter accepts them: a
# relative reference to one of these, nothing else (an absolute or odd reference would make a
# validating server refuse the whole transaction, results included).
RECIPIENT = re.compile(r"^(Practitioner|PractitionerRole|Organization|CareTeam|HealthcareService)/[A-Za-z0-9\-.]{1,64}$")
ADAPTER_DEVICE_NAME = "radlite-fhir-adapter"
_NS = uuid.UUID("6f1c2a52-4b1e-5d0c-9a57-2f0a3c1e9b11")  # namespace for deterministic urn:uuid fullUrls

AMEND_NOTE = (
    "Withdrawn by the RadLite adapter: the source report was amended; "
    "see the AI results derived from the new report version."
)
WITHDRAWN_NOTE = (
    "Withdrawn by the RadLite adapter: the source report was withdrawn (entered-in-error or "
    "cancelled); no AI result stands for it."
)
FAILED_VERSION_NOTE = (
    "Withdrawn by the RadLite adapter: the source report has a newer version the adapter could not "
    "read; these results belonged to an earlier version."
)


@dataclass
class PlannedEntry:
    role: str  # device | finding | summary | amended | provenance
    resource_type: str
    full_url: str
    task: str | None = None
    identifier: str | None = None
    resource_id: str | None = None  # for amended (existing) resources


# Roles of the resources a transaction makes (the Provenance targets them), and the types of what
# a later report version withdraws (entered-in-error).
NEW_ROLES = ("finding", "summary", "alert", "flag", "followup")
WITHDRAWABLE = ("Observation", "Communication", "Flag", "ServiceRequest")


@dataclass(frozen=True)
class PlannedAlert:
    """A critical-result Communication in the plan, as the write-back records it for watching
    (acknowledgement, escalation: integration/writeback/alerts.py)."""

    identifier: str
    rule: str
    category: str
    recipient_key: str  # ordering_provider | results_interpreter | team:<name>
    recipient: str | None  # the reference it went to; None when none was resolved
    within_minutes: int
    escalate_to: list[str]


@dataclass
class TransactionPlan:
    bundle: dict[str, Any]
    entries: list[PlannedEntry]
    parse_failures: dict[str, int] = field(default_factory=dict)
    # What earlier versions wrote that is already entered-in-error on the server (a replay), as
    # "Type/id": recorded, not re-sent.
    already_amended: list[str] = field(default_factory=list)
    # Tasks whose results are not written (kind none, no mapping, or empty results).
    not_written: list[str] = field(default_factory=list)
    alerts: list[PlannedAlert] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.entries

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.entries:
            out[e.role] = out.get(e.role, 0) + 1
        return out


class BuildError(Exception):
    """The job cannot be turned into a Bundle (e.g. a result that does not fit its task's type)."""


def _sha256(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, separators=(",", ":"), ensure_ascii=False).encode("utf-8")).hexdigest()


def _urn(key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, key)}"


def _instant(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def conditional_create(full_url: str, resource: dict[str, Any], search: str, system: str, value: str) -> dict[str, Any]:
    """A transaction entry that creates ``resource`` unless the server already holds one matching
    ``search=system|value`` (an identifier or a tag): a replayed transaction creates nothing twice."""
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"],
                    "ifNoneExist": f"{search}=" + quote(f"{system}|{value}", safe="")},
    }


def report_reference(resource: dict[str, Any]) -> dict[str, Any]:
    """The source report: versioned literal reference when it has an id, else logical (identifier)."""
    rid = resource.get("id")
    vid = (resource.get("meta") or {}).get("versionId")
    if isinstance(rid, str) and rid:
        ref = f"DiagnosticReport/{rid}"
        if isinstance(vid, str) and vid:
            ref += f"/_history/{vid}"
        return {"reference": ref}
    picked = report_identifier(resource)
    if picked is None:
        raise BuildError("report has neither id nor identifier")
    ident = picked[1]
    logical = {k: ident[k] for k in ("system", "value") if ident.get(k)}
    return {"type": "DiagnosticReport", "identifier": logical}


def imaging_study_references(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's ImagingStudy references (``DiagnosticReport.imagingStudy``), as an
    Observation's ``derivedFrom``: the images the results were read about, which R4 lets
    ``derivedFrom`` name (unlike the report itself).

    reference / identifier / type are copied, never ``display``. Left out: a ``#id`` reference (to
    a resource contained in the report, which is not copied), a ``urn:`` one (it resolves only
    inside the report's own Bundle) and one naming another type (not R4 for this element)."""
    out: list[dict[str, Any]] = []
    for ref in report.get("imagingStudy") or []:
        if not isinstance(ref, dict):
            continue
        link = {k: copy.deepcopy(ref[k]) for k in ("reference", "identifier", "type") if ref.get(k)}
        literal = link.get("reference")
        if isinstance(literal, str) and (literal.startswith("#") or literal.lower().startswith("urn:")):
            continue
        if reference_type(link) not in (None, "ImagingStudy"):
            continue
        if "reference" not in link and "identifier" in link:
            # A logical reference (e.g. the DICOM Study Instance UID): its type says what it is.
            link["type"] = "ImagingStudy"
        if ("reference" in link or "identifier" in link) and link not in out:
            out.append(link)
    return out


def _security_meta(extra_tag: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"security": [dict(AIAST)]}
    if extra_tag:
        meta["tag"] = [extra_tag]
    return meta


def _model_of(result: dict[str, Any]) -> dict[str, str]:
    b = result.get("bundle") or {}
    return {
        "name": str(b.get("name") or "unknown"),
        "version": str(b.get("version") or "unknown"),
        "sha256": str(b.get("sha256") or "unknown"),
        "base_model": str(b.get("base_model") or ""),
    }


def _device_identifier(model: dict[str, str]) -> str:
    return f"{model['name']}@{model['version']}:{model['sha256']}"


def _device(model: dict[str, str], full_url: str) -> dict[str, Any]:
    ident = _device_identifier(model)
    versions = [{"type": {"text": "bundle version"}, "value": model["version"]},
                {"type": {"text": "sha256"}, "value": model["sha256"]}]
    if model.get("base_model"):
        versions.append({"type": {"text": "base model"}, "value": model["base_model"]})
    resource = {
        "resourceType": "Device",
        "meta": _security_meta(),
        "identifier": [{"system": DEVICE_SYSTEM, "value": ident}],
        "status": "active",
        "deviceName": [{"name": model["name"], "type": "model-name"}],
        "type": {"text": "AI language model (RadLite)"},
        "version": versions,
    }
    return conditional_create(full_url, resource, "identifier", DEVICE_SYSTEM, ident)


def alert_communication(ident: str, category: str, subject: dict[str, Any] | None, about: list[dict[str, Any]],
                        recipient: dict[str, str] | None, sender: str | None, text: str,
                        now: dt.datetime) -> dict[str, Any]:
    """A critical-result Communication (category alert, priority by the rule's category)."""
    comm: dict[str, Any] = {
        "resourceType": "Communication",
        "meta": _security_meta(),
        "identifier": [{"system": ALERT_SYSTEM, "value": ident}],
        "status": "completed",
        "category": [{"coding": [{"system": COMMUNICATION_CATEGORY, "code": "alert", "display": "Alert"}]}],
        "priority": ALERT_PRIORITY[category],
    }
    if subject:
        comm["subject"] = subject
    comm["about"] = about
    comm["sent"] = _instant(now)
    if recipient is not None:
        comm["recipient"] = [recipient]
    if sender:
        comm["sender"] = {"reference": sender}
    comm["payload"] = [{"contentString": text}]
    return comm


def _word_in(phrase: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text) is not None


class _Builder:
    def __init__(self, job: Any, mappings: Mappings, base_url: str | None, now: dt.datetime) -> None:
        self.job = job
        self.mappings = mappings
        self.base_url = (base_url or "").rstrip("/")
        self.now = now
        self.report = job.resource or {}
        self.report_ref = report_reference(self.report)
        self.imaging_studies = imaging_study_references(self.report)
        self.entries: list[dict[str, Any]] = []
        self.planned: list[PlannedEntry] = []
        self.devices: dict[str, str] = {}  # device identifier -> fullUrl
        self.device_entries: list[tuple[dict[str, Any], PlannedEntry]] = []
        self.seen_identifiers: set[str] = set()
        self.provenance_tag: str | None = None
        # The evidence of the task being built (finding key -> spans), set per task by plan_transaction.
        self.evidence: dict[str, list[dict[str, Any]]] = {}
        self.text_path = _text_path(self.report)
        self.withdrawal_reason: str | None = None
        # (task, finding key) -> the fullUrl of the Observation written for it, for alerts about it.
        self.observation_urls: dict[tuple[str, str], str] = {}
        self.alerts: list[PlannedAlert] = []

    # -- shared pieces --------------------------------------------------------------------

    def device_url(self, model: dict[str, str]) -> str:
        ident = _device_identifier(model)
        if ident not in self.devices:
            url = _urn(f"device|{ident}")
            self.devices[ident] = url
            self.device_entries.append((_device(model, url), PlannedEntry("device", "Device", url, identifier=ident)))
        return self.devices[ident]

    def observation(self, task: str, finding_key: str, model: dict[str, str], mapping: Any, code: Concept,
                    *, value: Concept | None = None, value_string: str | None = None,
                    body_site: Concept | None = None, interpretation: Concept | None = None,
                    role: str = "finding") -> None:
        ident = _sha256(self.job.report_key, self.job.report_version, task, finding_key,
                        model["name"], model["version"], model["sha256"])
        full_url = _urn(f"observation|{ident}")
        if ident in self.seen_identifiers:
            return
        self.seen_identifiers.add(ident)
        self.observation_urls[(task, finding_key)] = full_url
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "meta": _security_meta(),
            "identifier": [{"system": RESULT_SYSTEM, "value": ident}],
            "status": "preliminary",
            "category": [c.fhir() for c in mapping.category],
            "code": code.fhir(),
        }
        for key in ("subject", "encounter"):
            ref = self._reference(key)
            if ref:
                obs[key] = ref
        for key in ("effectiveDateTime", "effectivePeriod"):
            if key in self.report:
                obs[key] = copy.deepcopy(self.report[key])
                break
        if value is not None:
            obs["valueCodeableConcept"] = value.fhir()
        if value_string is not None:
            obs["valueString"] = value_string
        if interpretation is not None:
            obs["interpretation"] = [interpretation.fhir()]
        if body_site is not None:
            obs["bodySite"] = body_site.fhir()
        if mapping.note:
            obs["note"] = [{"text": mapping.note}]
        if self.imaging_studies:
            obs["derivedFrom"] = copy.deepcopy(self.imaging_studies)
        extensions = self.derivation_references(finding_key)
        if extensions:
            obs["extension"] = extensions
        obs["device"] = {"reference": self.device_url(model)}
        self.entries.append(conditional_create(full_url, obs, "identifier", RESULT_SYSTEM, ident))
        self.planned.append(PlannedEntry(role, "Observation", full_url, task=task, identifier=ident))

    def derivation_references(self, finding_key: str) -> list[dict[str, Any]]:
        """One derivation-reference extension per evidence sentence of this result."""
        out = []
        for item in self.evidence.get(finding_key) or []:
            try:
                offset, length = int(item["offset"]), int(item["length"])
            except (KeyError, TypeError, ValueError):
                continue
            out.append({"url": DERIVATION_REFERENCE, "extension": [
                {"url": "reference", "valueReference": copy.deepcopy(self.report_ref)},
                {"url": "path", "valueString": self.text_path},
                {"url": "offset", "valueInteger": offset},
                {"url": "length", "valueInteger": length},
            ]})
        return out

    # -- per task kind --------------------------------------------------------------------

    def label_status(self, task: str, m: LabelStatusMapping, value: Any, model) -> None:
        if not isinstance(value, dict):
            raise BuildError(f"{task}: expected a label -> status mapping")
        for label in sorted(value):
            status = value[label]
            if status not in m.write_statuses:
                continue
            code = m.labels.get(label) or text_concept(str(label))
            self.observation(task, f"label:{label}", model, m, code, value=m.values[status])

    def entities(self, task: str, m: EntityMapping, value: Any, model) -> None:
        if not isinstance(value, list):
            raise BuildError(f"{task}: expected a list of entities")
        anatomy = sorted({e["text"] for e in value if isinstance(e, dict) and e.get("label") == m.anatomy_label},
                         key=lambda t: (-len(t), t))
        for e in value:
            if not isinstance(e, dict) or e.get("label") not in m.values or not e.get("text"):
                continue
            text = str(e["text"])
            site_phrase = next((a for a in anatomy if a != text and _word_in(a, text)), None)
            site = None
            if site_phrase is not None:
                site = m.body_sites.get(site_phrase) or text_concept(site_phrase)
            self.observation(task, f"entity:{e['label']}:{text}", model, m, text_concept(text),
                             value=m.values[e["label"]], body_site=site)

    def changes(self, task: str, m: ChangeMapping, value: Any, model) -> None:
        if not isinstance(value, list):
            raise BuildError(f"{task}: expected a list of changes")
        for item in value:
            if not isinstance(item, dict) or not item.get("finding") or not item.get("change"):
                continue
            finding, change = str(item["finding"]), str(item["change"])
            self.observation(task, f"change:{finding}:{change}", model, m, text_concept(finding),
                             value=m.values.get(change) or text_concept(change),
                             interpretation=m.interpretation.get(change))

    def rads(self, task: str, m: RadsMapping, value: Any, model) -> None:
        if not isinstance(value, dict):
            raise BuildError(f"{task}: expected {{system, category}}")
        system, category = value.get("system"), value.get("category")
        if system is None:
            if m.none == "text" and m.none_code is not None:
                self.observation(task, "assessment", model, m, m.none_code, value=text_concept("No applicable RADS"))
            return
        sys_map = m.systems.get(system)
        code = sys_map.code if sys_map else text_concept(f"{system} assessment category")
        val = (sys_map.categories.get(str(category)) if sys_map else None) or text_concept(f"{system} {category}")
        self.observation(task, "assessment", model, m, code, value=val)

    def category(self, task: str, m: CategoryMapping, value: Any, model) -> None:
        if not isinstance(value, str):
            raise BuildError(f"{task}: expected a category label")
        self.observation(task, "category", model, m, m.code, value=m.values.get(value) or text_concept(value))

    def text(self, task: str, m: TextMapping, value: Any, model) -> None:
        if not isinstance(value, str):
            raise BuildError(f"{task}: expected text")
        if value.strip():
            self.observation(task, "text", model, m, m.code, value_string=value.strip(), role=m.role)

    # -- amendment and provenance ---------------------------------------------------------

    def amendments(self, amend: Iterable[tuple[dict[str, Any], str | None]],
                   note: str = AMEND_NOTE) -> tuple[list[str], list[str]]:
        """PUT entries setting what earlier versions wrote (Observations, alerts, Flags, follow-up
        proposals) to entered-in-error; returns (every "Type/id", those already withdrawn)."""
        all_refs, already = [], []
        for resource, etag in amend:
            rtype, rid = resource.get("resourceType"), resource.get("id")
            if rtype not in WITHDRAWABLE or not rid:
                continue
            ref = f"{rtype}/{rid}"
            all_refs.append(ref)
            if resource.get("status") == "entered-in-error":
                already.append(ref)
                continue
            new = copy.deepcopy(resource)
            new["status"] = "entered-in-error"
            # status is a modifier element and a narrative must reflect it: the server's text.div
            # still presents the withdrawn result as current. It is also markup we did not write;
            # the write-back never sends a narrative of its own making or of anyone else's.
            new.pop("text", None)
            meta = {k: v for k, v in (new.get("meta") or {}).items() if k in ("security", "tag", "profile")}
            meta.setdefault("security", [])
            if not any(s.get("code") == "AIAST" for s in meta["security"] if isinstance(s, dict)):
                meta["security"].append(dict(AIAST))
            new["meta"] = meta
            if rtype != "Flag":  # R4 Flag has no note
                new["note"] = list(new.get("note") or []) + [{"text": note}]
            if rtype == "Observation":
                _drop_disallowed_derived_from(new)
            full_url = f"{self.base_url}/{ref}" if self.base_url else ref
            request: dict[str, Any] = {"method": "PUT", "url": ref}
            if etag:
                request["ifMatch"] = etag
            self.entries.append({"fullUrl": full_url, "resource": new, "request": request})
            self.planned.append(PlannedEntry("amended", rtype, full_url, resource_id=rid))
        if all_refs:
            self.withdrawal_reason = note
        return all_refs, already

    def alert(self, finding: Finding, recipient: dict[str, str] | None) -> bool:
        """A Communication (category alert) about the Observation written for ``finding``, and a
        Flag when its rule asks for one; False when no Observation was written for it (an alert
        about nothing is not sent)."""
        about = self.observation_urls.get((finding.task, finding.key))
        if about is None:
            return False
        rule = finding.rule
        ident = _sha256("critical", self.job.report_key, self.job.report_version, rule.id, finding.task, finding.key)
        quote_ = next((e.get("text") for e in finding.evidence if isinstance(e, dict) and e.get("text")), None)
        text = (f"{ALERT_WORDS[rule.category]} (AI-detected, preliminary): {finding.item}. "
                f"Act within {rule.within_minutes} minutes (rule {rule.id}).")
        if quote_:
            text += f' Report: "{quote_.strip()}"'
        sender = next(iter(self.devices.values()), None)
        comm = alert_communication(ident, rule.category, self._reference("subject"),
                                   [{"reference": about}, copy.deepcopy(self.report_ref)],
                                   recipient, sender, text, self.now)
        full_url = _urn(f"communication|{ident}")
        self.entries.append(conditional_create(full_url, comm, "identifier", ALERT_SYSTEM, ident))
        self.planned.append(PlannedEntry("alert", "Communication", full_url, task=finding.task, identifier=ident))
        self.alerts.append(PlannedAlert(ident, rule.id, rule.category, rule.recipient_key,
                                        (recipient or {}).get("reference"), rule.within_minutes,
                                        list(rule.escalate_to)))
        if rule.flag:
            self.flag(finding, ident, sender)
        return True

    def flag(self, finding: Finding, alert_ident: str, sender: str | None) -> None:
        """A Flag on the patient for a met rule that asks for one: what an EHR shows as a banner
        while the chart is open. Withdrawn with the report version like the alert."""
        rule = finding.rule
        subject = self._reference("subject")
        if not subject:
            return  # R4 Flag.subject is required
        ident = _sha256("flag", alert_ident)
        flag: dict[str, Any] = {
            "resourceType": "Flag",
            "meta": _security_meta(),
            "identifier": [{"system": FLAG_SYSTEM, "value": ident}],
            "status": "active",
            "category": [{"coding": [{"system": FLAG_CATEGORY, "code": "clinical", "display": "Clinical"}]}],
            "code": {"text": f"{ALERT_WORDS[rule.category]} (AI-detected, preliminary): {finding.item} "
                             f"(rule {rule.id})"},
        }
        flag["subject"] = subject
        flag["period"] = {"start": _instant(self.now)}
        encounter = self._reference("encounter")
        if encounter:
            flag["encounter"] = encounter
        if sender:
            flag["author"] = {"reference": sender}
        full_url = _urn(f"flag|{ident}")
        self.entries.append(conditional_create(full_url, flag, "identifier", FLAG_SYSTEM, ident))
        self.planned.append(PlannedEntry("flag", "Flag", full_url, task=finding.task, identifier=ident))

    def followup(self, rec: dict[str, Any], codes: FollowupCodes) -> None:
        """A ServiceRequest proposal (status draft) for a follow-up the report recommends: the
        procedure and body site coded by the site's codes, the timing as a period from the
        report's date, the sentence as evidence. A proposal for the ordering clinician to act on,
        never an order."""
        evidence = [e for e in rec.get("evidence") or [] if isinstance(e, dict)]
        subject = self._reference("subject")
        if not evidence or not subject:
            return  # R4 ServiceRequest.subject is required: no patient, no proposal
        where = (evidence[0].get("offset"), evidence[0].get("length"))
        ident = _sha256("followup", self.job.report_key, self.job.report_version, where, rec.get("procedure"))
        if ident in self.seen_identifiers:
            return
        self.seen_identifiers.add(ident)
        procedure = codes.procedure(rec.get("procedure"))
        sr: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "meta": _security_meta(),
            "identifier": [{"system": FOLLOWUP_SYSTEM, "value": ident}],
            "status": "draft",
            "intent": "proposal",
            "category": [codes.categories[procedure.category].fhir()],
            "code": procedure.concept().fhir(),
        }
        sr["subject"] = subject
        encounter = self._reference("encounter")
        if encounter:
            sr["encounter"] = encounter
        period = _occurrence(rec.get("timing"), _report_date(self.report) or self.now.date())
        if period is not None:
            sr["occurrencePeriod"] = period
        sr["authoredOn"] = _instant(self.now)
        sr["requester"] = {"reference": self.device_url(_adapter_model())}
        sr["reasonReference"] = [copy.deepcopy(self.report_ref)]
        site = codes.body_sites.get(rec.get("body_site") or "")
        if site is not None:
            sr["bodySite"] = [site.fhir()]
        words = "conditional recommendation" if rec.get("conditional") else "recommendation"
        quote_ = str(evidence[0].get("text") or "").strip()
        sr["note"] = [{"text": f"Follow-up {words} read from the report by the RadLite adapter (preliminary, "
                               f"for the ordering clinician to review): \"{quote_}\""}]
        self.evidence = {"followup": evidence}
        extensions = self.derivation_references("followup")
        if extensions:
            sr["extension"] = extensions
        full_url = _urn(f"service-request|{ident}")
        self.entries.append(conditional_create(full_url, sr, "identifier", FOLLOWUP_SYSTEM, ident))
        self.planned.append(PlannedEntry("followup", "ServiceRequest", full_url, identifier=ident))

    def _reference(self, key: str) -> dict[str, Any] | None:
        """The report's ``subject`` / ``encounter``: reference, identifier and type only (never a
        display, which may be a patient's name)."""
        value = self.report.get(key)
        if not isinstance(value, dict):
            return None
        ref = {k: copy.deepcopy(v) for k, v in value.items() if k in ("reference", "identifier", "type")}
        return ref or None

    def provenance(self, amended_ids: list[str]) -> None:
        new_identifiers = sorted(p.identifier for p in self.planned if p.role in NEW_ROLES and p.identifier)
        if not new_identifiers and not amended_ids:
            return
        if not self.devices:
            # Only amendments: the adapter itself is the agent.
            self.device_url(_adapter_model())
        # Withdrawn Observations by bare id, as before alerts were withdrawn too: a transaction
        # replayed across the upgrade keeps its Provenance tag, so the replay creates no second one.
        tagged = sorted(r.removeprefix("Observation/") for r in amended_ids)
        tag = _sha256("provenance", self.job.report_key, self.job.report_version, new_identifiers, tagged)
        full_url = _urn(f"provenance|{tag}")
        targets = [{"reference": p.full_url} for p in self.planned if p.role in NEW_ROLES]
        targets += [{"reference": ref} for ref in sorted(amended_ids)]
        activity = "CREATE" if new_identifiers else "UPDATE"
        prov = {
            "resourceType": "Provenance",
            "meta": _security_meta({"system": PROVENANCE_TAG_SYSTEM, "code": tag}),
            "target": targets,
            "recorded": _instant(self.now),
            "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                     "code": activity, "display": activity.lower()}]},
            "agent": [
                {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                      "code": "author", "display": "Author"}]},
                 "who": {"reference": url}}
                for url in self.devices.values()
            ],
            "entity": [{"role": "source", "what": copy.deepcopy(self.report_ref)}],
        }
        if amended_ids and self.withdrawal_reason:
            # Why results were withdrawn (amended, withdrawn or unreadable report), for whoever
            # reads the chart's history; text only: no PurposeOfUse code says it.
            prov["reason"] = [{"text": self.withdrawal_reason}]
        self.entries.append(conditional_create(full_url, prov, "_tag", PROVENANCE_TAG_SYSTEM, tag))
        self.planned.append(PlannedEntry("provenance", "Provenance", full_url, identifier=tag))
        self.provenance_tag = tag

    def audit_event(self) -> None:
        """An AuditEvent (IHE BALP-style "create by a device") beside the Provenance, when asked."""
        tag = self.provenance_tag
        if tag is None:
            return
        agents = list(self.devices.values())
        event = {
            "resourceType": "AuditEvent",
            "meta": _security_meta({"system": AUDIT_TAG_SYSTEM, "code": tag}),
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                     "display": "RESTful Operation"},
            "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "transaction",
                         "display": "transaction"}],
            "action": "C",
            "recorded": _instant(self.now),
            "outcome": "0",
            "agent": [{"who": {"reference": url}, "requestor": True} for url in agents],
            "source": {"observer": {"reference": agents[0]}},
            "entity": [{"what": copy.deepcopy(self.report_ref),
                        "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "3",
                                 "display": "Report"}}],
        }
        full_url = _urn(f"audit-event|{tag}")
        self.entries.append(conditional_create(full_url, event, "_tag", AUDIT_TAG_SYSTEM, tag))
        self.planned.append(PlannedEntry("audit-event", "AuditEvent", full_url, identifier=tag))


def _drop_disallowed_derived_from(obs: dict[str, Any]) -> None:
    """Earlier adapter versions wrote ``derivedFrom`` the DiagnosticReport, which R4 does not allow.
    Withdrawing such an Observation sends it back whole: left in, that reference would make a
    validating server refuse the withdrawal, and the outbound check refuse to send it -- the
    superseded result would stay in the chart as current. The Provenance of the withdrawal names
    the report, and so do the Observation's derivation-reference extensions, if it has any."""
    allowed = allowed_targets("Observation", "derivedFrom")

    def permitted(ref: Any) -> bool:
        target = reference_type(ref) if isinstance(ref, dict) else None
        return isinstance(ref, dict) and (allowed is None or target is None or target in allowed)

    kept = [r for r in obs.get("derivedFrom") or [] if permitted(r)]
    if kept:
        obs["derivedFrom"] = kept
    else:
        obs.pop("derivedFrom", None)


def _text_path(report: dict[str, Any]) -> str:
    """The element the adapter read the report's text from (evidence offsets count into it)."""
    try:
        return report_text_and_path(report)[1]
    except ReportTextError:
        return "DiagnosticReport"


def _adapter_model() -> dict[str, str]:
    """The adapter itself as a Device: the author of what its rules (not a model) produced."""
    return {"name": ADAPTER_DEVICE_NAME, "version": _adapter_version(), "sha256": "n/a"}


def _report_date(report: dict[str, Any]) -> dt.date | None:
    """The day the report's examination took place (effective), else when it was issued."""
    for value in (report.get("effectiveDateTime"), (report.get("effectivePeriod") or {}).get("start"),
                  report.get("issued")):
        if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}", value):
            try:
                return dt.date.fromisoformat(value[:10])
            except ValueError:
                continue
    return None


def _add(day: dt.date, n: int, unit: str) -> dt.date:
    if unit == "d":
        return day + dt.timedelta(days=n)
    if unit == "wk":
        return day + dt.timedelta(weeks=n)
    months = n * (12 if unit == "a" else 1)
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    month += 1
    for d in (day.day, 30, 29, 28):  # the 31st plus a month is the month's last day
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise ValueError("unreachable")


def _occurrence(timing: Any, base: dt.date) -> dict[str, str] | None:
    """"in 3 to 4 months" from the report's date as a Period of dates; None without a timing."""
    if not isinstance(timing, dict):
        return None
    try:
        low, high, unit = int(timing["low"]), int(timing["high"]), str(timing["unit"])
    except (KeyError, TypeError, ValueError):
        return None
    if unit not in ("d", "wk", "mo", "a") or not 0 < low <= high <= 120:
        return None
    return {"start": _add(base, low, unit).isoformat(), "end": _add(base, high, unit).isoformat()}


def _adapter_version() -> str:
    try:
        return version("radlite-fhir")
    except Exception:  # noqa: BLE001 -- not installed as a distribution
        return "0"


def plan_transaction(
    job: Any,
    mappings: Mappings,
    *,
    amend: Iterable[tuple[dict[str, Any], str | None]] = (),
    base_url: str | None = None,
    now: dt.datetime | None = None,
    audit_event: bool = False,
    amend_note: str = AMEND_NOTE,
    recipients: dict[str, dict[str, str]] | None = None,
) -> TransactionPlan:
    """Build the transaction for ``job`` (anything with resource, report_key, report_version and
    results). ``amend`` holds (current resource, ETag) of the earlier versions' Observations,
    withdrawn with ``amend_note`` saying why; ``audit_event`` adds an AuditEvent (settings.writeback.audit_event).
    Written results that meet a critical-result rule (``mappings.critical``) get a Communication
    each, to ``recipients[rule.recipient_key]`` when resolved, and a Flag where the rule says so."""
    now = now or dt.datetime.now(dt.timezone.utc)
    b = _Builder(job, mappings, base_url, now)
    failures: dict[str, int] = {}
    not_written: list[str] = []
    dispatch = {
        "label_status": b.label_status, "entities": b.entities, "changes": b.changes,
        "rads": b.rads, "category": b.category, "text": b.text,
    }
    for task in sorted(job.results or {}):
        result = (job.results or {})[task]
        if not isinstance(result, dict):
            raise BuildError(f"{task}: result is not an object")
        mapping = mappings.get(task)
        if mapping is None or not mapping.writes:
            not_written.append(task)
            continue
        # ``value`` is what was decided (integration/inference/evidence/decide.py): a category the report
        # states is written even when the model's own answer did not parse.
        if result.get("value") is None:
            if not result.get("parsed"):
                failures[task] = failures.get(task, 0) + 1
            else:
                not_written.append(task)
            continue
        b.evidence = result.get("evidence") or {}
        dispatch[mapping.kind](task, mapping, result["value"], _model_of(result))
    for finding in critical_findings(job.results, mappings.critical):
        recipient = (recipients or {}).get(finding.rule.recipient_key)
        b.alert(finding, recipient if recipient and RECIPIENT.match(recipient.get("reference", "")) else None)
    if mappings.followup is not None:
        for rec in getattr(job, "followups", None) or []:
            if isinstance(rec, dict):
                b.followup(rec, mappings.followup)
    amended_ids, already = b.amendments(amend, amend_note)
    b.provenance(amended_ids)
    if audit_event:
        b.audit_event()
    entries = [e for e, _ in b.device_entries] + b.entries
    planned = [p for _, p in b.device_entries] + b.planned
    if not any(p.role != "device" for p in planned):
        entries, planned = [], []
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    if entries:
        _check_conformance(bundle)
    return TransactionPlan(bundle, planned, failures, already, not_written, b.alerts if entries else [])


def escalation_identifier(chain: str, step: int) -> str:
    """The identifier value of an alert's ``step``-th escalation (deterministic: a replay after a
    crash finds the one already written)."""
    return _sha256("escalation", chain, step)


def plan_escalation(original: dict[str, Any], ident: str, recipient: dict[str, str] | None, *, step: int,
                    minutes: int, now: dt.datetime | None = None) -> dict[str, Any]:
    """A transaction writing the escalation of an unacknowledged alert: a new Communication about
    the same result and report, to the next recipient, saying it is an escalation; and a
    Provenance naming the adapter as its author. Conditional creates throughout."""
    now = now or dt.datetime.now(dt.timezone.utc)
    priority = original.get("priority")
    category = next((c for c, p in ALERT_PRIORITY.items() if p == priority), "critical")
    text = next((p.get("contentString") for p in original.get("payload") or []
                 if isinstance(p, dict) and p.get("contentString")), "")
    text = re.sub(r"^Escalation \d+: not acknowledged within \d+ minutes\. ", "", text)  # one prefix, the latest
    text = f"Escalation {step}: not acknowledged within {minutes} minutes. {text}".strip()
    adapter = _adapter_model()
    device_url = _urn(f"device|{_device_identifier(adapter)}")
    comm = alert_communication(ident, category, copy.deepcopy(original.get("subject")),
                               copy.deepcopy(original.get("about") or []), recipient,
                               (original.get("sender") or {}).get("reference") or device_url, text, now)
    full_url = _urn(f"communication|{ident}")
    tag = _sha256("provenance", "escalation", ident)
    prov = {
        "resourceType": "Provenance",
        "meta": _security_meta({"system": PROVENANCE_TAG_SYSTEM, "code": tag}),
        "target": [{"reference": full_url}],
        "recorded": _instant(now),
        "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                 "code": "CREATE", "display": "create"}]},
        "agent": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                        "code": "author", "display": "Author"}]},
                   "who": {"reference": device_url}}],
        "reason": [{"text": "Escalated by the RadLite adapter: the critical-result alert was not "
                            "acknowledged within its time limit."}],
    }
    entries = [_device(adapter, device_url),
               conditional_create(full_url, comm, "identifier", ALERT_SYSTEM, ident),
               conditional_create(_urn(f"provenance|{tag}"), prov, "_tag", PROVENANCE_TAG_SYSTEM, tag)]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    _check_conformance(bundle)
    return bundle


# How many problems a BuildError names (the rest are counted): enough to fix the cause, short
# enough for a job's error reason.
_PROBLEMS_SHOWN = 5


def _check_conformance(bundle: dict[str, Any]) -> None:
    """Raise :class:`BuildError` when a validating R4 server would reject ``bundle``: such a
    transaction fails the same way on every retry and must never be sent. The runner dead-letters
    the job with the problems as its reason (they name elements and types, never values)."""
    problems = check_bundle(bundle)
    if problems:
        shown = "; ".join(problems[:_PROBLEMS_SHOWN])
        more = f" (and {len(problems) - _PROBLEMS_SHOWN} more)" if len(problems) > _PROBLEMS_SHOWN else ""
        raise BuildError(f"the transaction does not conform to FHIR R4: {shown}{more}")


def build_transaction(job: Any, mappings: Mappings, **kwargs: Any) -> dict[str, Any]:
    """The transaction Bundle only (see :func:`plan_transaction`)."""
    return plan_transaction(job, mappings, **kwargs).bundle


# -- what the server returned ----------------------------------------------------------------

_LOCATION = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/([^/?#]+))?/?$")


def parse_location(location: str | None) -> tuple[str | None, str | None, str | None]:
    if not location:
        return None, None, None
    m = _LOCATION.search(location.split("?", 1)[0])
    return (m.group(1), m.group(2), m.group(3)) if m else (None, None, None)


def summarize(plan: TransactionPlan, response: dict[str, Any] | None, *, server: str | None = None) -> dict[str, Any]:
    """The ``written`` record: type/id/version/status of every entry, plus counts."""
    resources: list[dict[str, Any]] = []
    counts: dict[str, int] = {"created": 0, "existing": 0, "amended": 0}
    resp_entries = (response or {}).get("entry") or []
    for planned, resp in zip(plan.entries, resp_entries):
        r = resp.get("response") or {}
        rtype, rid, version = parse_location(r.get("location"))
        body = resp.get("resource") or {}
        rtype = rtype or body.get("resourceType") or planned.resource_type
        rid = rid or body.get("id") or planned.resource_id
        version = version or (body.get("meta") or {}).get("versionId")
        if version is None and r.get("etag"):
            version = r["etag"].replace('W/', '').strip('"')
        status_text = str(r.get("status") or "")
        status = int(status_text[:3]) if status_text[:3].isdigit() else None
        created = status == 201
        if planned.role == "amended":
            counts["amended"] += 1
        elif created:
            counts["created"] += 1
        else:
            counts["existing"] += 1
        item = {"role": planned.role, "type": rtype, "id": rid, "version": version, "status": status}
        if planned.task:
            item["task"] = planned.task
        if planned.identifier and planned.role not in ("provenance", "audit-event"):
            item["identifier"] = planned.identifier
        resources.append(item)
    for ref in plan.already_amended:
        rtype, rid = ref.split("/", 1)
        resources.append({"role": "amended", "type": rtype, "id": rid, "version": None, "status": None,
                          "note": "already entered-in-error"})
    out: dict[str, Any] = {"resources": resources, "counts": counts}
    if server:
        out["server"] = server
    if plan.parse_failures:
        out["parse_failures"] = dict(plan.parse_failures)
    return out


def earlier_observations(written: dict[str, Any] | None) -> list[str]:
    """Ids of the Observations an earlier job made."""
    return [rid for rtype, rid in earlier_results(written) if rtype == "Observation"]


def earlier_results(written: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(type, id) of what an earlier job made that a new report version must withdraw: its
    Observations, alerts, Flags and follow-up proposals."""
    out = []
    for r in (written or {}).get("resources") or []:
        if r.get("type") in WITHDRAWABLE and r.get("role") in NEW_ROLES and r.get("id"):
            out.append((str(r["type"]), str(r["id"])))
    return out
