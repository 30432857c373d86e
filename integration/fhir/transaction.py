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
from integration.mappings.critical import Finding, Rule, critical_findings
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


@dataclass
class TransactionPlan:
    bundle: dict[str, Any]
    entries: list[PlannedEntry]
    parse_failures: dict[str, int] = field(default_factory=dict)
    # Earlier Observations already entered-in-error on the server (a replay): recorded, not re-sent.
    already_amended: list[str] = field(default_factory=list)
    # Tasks whose results are not written (kind none, no mapping, or empty results).
    not_written: list[str] = field(default_factory=list)

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
            if isinstance(self.report.get(key), dict):
                # reference/identifier/type only: the display (a patient name) is not copied.
                ref = {k: copy.deepcopy(v) for k, v in self.report[key].items() if k in ("reference", "identifier", "type")}
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
        """PUT entries setting earlier Observations to entered-in-error; returns (all ids, already)."""
        all_ids, already = [], []
        for resource, etag in amend:
            rid = resource.get("id")
            if resource.get("resourceType") != "Observation" or not rid:
                continue
            all_ids.append(rid)
            if resource.get("status") == "entered-in-error":
                already.append(rid)
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
            new["note"] = list(new.get("note") or []) + [{"text": note}]
            _drop_disallowed_derived_from(new)
            full_url = f"{self.base_url}/Observation/{rid}" if self.base_url else f"Observation/{rid}"
            request: dict[str, Any] = {"method": "PUT", "url": f"Observation/{rid}"}
            if etag:
                request["ifMatch"] = etag
            self.entries.append({"fullUrl": full_url, "resource": new, "request": request})
            self.planned.append(PlannedEntry("amended", "Observation", full_url, resource_id=rid))
        if all_ids:
            self.withdrawal_reason = note
        return all_ids, already

    def alert(self, finding: Finding, recipient: dict[str, str] | None) -> bool:
        """A Communication (category alert) about the Observation written for ``finding``; False
        when none was written for it (an alert about nothing is not sent)."""
        about = self.observation_urls.get((finding.task, finding.key))
        if about is None:
            return False
        rule = finding.rule
        ident = _sha256("critical", self.job.report_key, self.job.report_version, rule.id, finding.task, finding.key)
        full_url = _urn(f"communication|{ident}")
        quote_ = next((e.get("text") for e in finding.evidence if isinstance(e, dict) and e.get("text")), None)
        text = (f"{ALERT_WORDS[rule.category]} (AI-detected, preliminary): {finding.item}. "
                f"Act within {rule.within_minutes} minutes (rule {rule.id}).")
        if quote_:
            text += f' Report: "{quote_.strip()}"'
        comm: dict[str, Any] = {
            "resourceType": "Communication",
            "meta": _security_meta(),
            "identifier": [{"system": ALERT_SYSTEM, "value": ident}],
            "status": "completed",
            "category": [{"coding": [{"system": COMMUNICATION_CATEGORY, "code": "alert", "display": "Alert"}]}],
            "priority": ALERT_PRIORITY[rule.category],
        }
        if isinstance(self.report.get("subject"), dict):
            ref = {k: copy.deepcopy(v) for k, v in self.report["subject"].items() if k in ("reference", "identifier", "type")}
            if ref:
                comm["subject"] = ref
        comm["about"] = [{"reference": about}, copy.deepcopy(self.report_ref)]
        comm["sent"] = _instant(self.now)
        if recipient is not None:
            comm["recipient"] = [recipient]
        if self.devices:
            comm["sender"] = {"reference": next(iter(self.devices.values()))}
        comm["payload"] = [{"contentString": text}]
        self.entries.append(conditional_create(full_url, comm, "identifier", ALERT_SYSTEM, ident))
        self.planned.append(PlannedEntry("alert", "Communication", full_url, task=finding.task, identifier=ident))
        return True

    def provenance(self, amended_ids: list[str]) -> None:
        new_identifiers = sorted(p.identifier for p in self.planned
                                 if p.role in ("finding", "summary", "alert") and p.identifier)
        if not new_identifiers and not amended_ids:
            return
        if not self.devices:
            # Only amendments: the adapter itself is the agent.
            self.device_url({"name": ADAPTER_DEVICE_NAME, "version": _adapter_version(), "sha256": "n/a"})
        tag = _sha256("provenance", self.job.report_key, self.job.report_version, new_identifiers, sorted(amended_ids))
        full_url = _urn(f"provenance|{tag}")
        targets = [{"reference": p.full_url} for p in self.planned if p.role in ("finding", "summary", "alert")]
        targets += [{"reference": f"Observation/{rid}"} for rid in sorted(amended_ids)]
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
    each, to ``recipients[rule recipient]`` (see :func:`alert_recipient_key`) when resolved."""
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
        recipient = (recipients or {}).get(alert_recipient_key(finding.rule))
        b.alert(finding, recipient if recipient and RECIPIENT.match(recipient.get("reference", "")) else None)
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
    return TransactionPlan(bundle, planned, failures, already, not_written)


# How many problems a BuildError names (the rest are counted): enough to fix the cause, short
# enough for a job's error reason.
_PROBLEMS_SHOWN = 5


def alert_recipient_key(rule: Rule) -> str:
    """The key of ``recipients`` a rule's alert goes to: ``ordering_provider``,
    ``results_interpreter`` or ``team:<name>``."""
    return f"team:{rule.team}" if rule.recipient == "team" else rule.recipient


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
    for rid in plan.already_amended:
        resources.append({"role": "amended", "type": "Observation", "id": rid, "version": None, "status": None,
                          "note": "already entered-in-error"})
    out: dict[str, Any] = {"resources": resources, "counts": counts}
    if server:
        out["server"] = server
    if plan.parse_failures:
        out["parse_failures"] = dict(plan.parse_failures)
    return out


def earlier_observations(written: dict[str, Any] | None) -> list[str]:
    """Ids of the Observations an earlier job made (what a new report version must withdraw)."""
    out = []
    for r in (written or {}).get("resources") or []:
        if r.get("type") == "Observation" and r.get("role") in ("finding", "summary") and r.get("id"):
            out.append(str(r["id"]))
    return out
