"""Report text extraction and DiagnosticReport validation (integration.fhir)."""

from __future__ import annotations

import base64
import copy

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from integration.fhir import Issue, ReportTextError, check_report, operation_outcome, report_text
from integration.fhir.html_text import html_to_text
from integration.samples import diagnostic_report, sample_diagnostic_reports, sample_reports

SECRET = "Zebulon Secretpatient"  # a value that must never come back in a diagnostic


def b64(data: str | bytes, encoding: str = "utf-8") -> str:
    raw = data.encode(encoding) if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def base_report(**extra) -> dict:
    """A valid report with no text, to which a test adds the text it is about."""
    resource = copy.deepcopy(sample_diagnostic_reports()[0])
    del resource["presentedForm"]
    resource.update(extra)
    return resource


def by_expression(issues: list[Issue], expression: str) -> list[Issue]:
    return [i for i in issues if expression in i.expression]


def only_issue(issues: list[Issue], code: str, expression: str, severity: str = "error") -> Issue:
    hits = [i for i in by_expression(issues, expression) if i.code == code and i.severity == severity]
    assert hits, f"no {severity} {code} at {expression}: {issues}"
    return hits[0]


# -- text extraction ---------------------------------------------------------------------------


@pytest.mark.parametrize("sample", sample_reports(), ids=lambda s: s["id"])
def test_every_sample_gives_its_text(sample):
    resource = diagnostic_report(sample)
    assert report_text(resource) == sample["text"].strip()
    assert check_report(resource) == []


def test_the_samples_cover_all_four_forms():
    assert {s["form"] for s in sample_reports()} == {
        "presentedForm-plain", "presentedForm-html", "conclusion", "narrative"}


def test_preference_plain_then_html_then_conclusion_then_narrative():
    plain = {"contentType": "text/plain", "data": b64("PLAIN TEXT")}
    html = {"contentType": "text/html", "data": b64("<p>HTML TEXT</p>")}
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>NARRATIVE TEXT</p></div>'
    full = base_report(presentedForm=[html, plain], conclusion="CONCLUSION TEXT",
                       text={"status": "generated", "div": div})
    assert report_text(full) == "PLAIN TEXT"
    full["presentedForm"] = [html]
    assert report_text(full) == "HTML TEXT"
    del full["presentedForm"]
    assert report_text(full) == "CONCLUSION TEXT"
    del full["conclusion"]
    assert report_text(full) == "NARRATIVE TEXT"


def test_html_scripts_styles_entities_and_line_breaks():
    markup = (
        "<!DOCTYPE html><html><head><title>Report title</title><style>p { color: red }</style>"
        "<script>var leaked = 'script text';</script></head><body>"
        "<h1>FINDINGS:</h1><p>Heart size &amp; mediastinum normal.&nbsp;No effusion &lt;1 cm.</p>"
        "<div>Line one<br>Line two<br/>Line three</div>"
        "<ul><li>First</li><li>Second</li></ul>"
        "<table><tr><td>Nodule</td><td>9 mm</td></tr></table>"
        "<!-- a comment --><noscript>no script</noscript>"
        "<p>IMPRESSION:   no   acute\n   process.</p>"
        "<script>document.write('more')</script></body></html>"
    )
    assert html_to_text(markup) == (
        "FINDINGS:\nHeart size & mediastinum normal. No effusion <1 cm.\n"
        "Line one\nLine two\nLine three\nFirst\nSecond\nNodule 9 mm\nIMPRESSION: no acute process."
    )


def test_html_left_open_and_preformatted():
    assert html_to_text("<html><head><title>T</title><body><p>Body text") == "Body text"
    assert html_to_text("<pre>A:  1\nB:  2</pre><p>after</p>") == "A:  1\nB:  2\nafter"
    assert html_to_text("<p>&#x41;&#66;&eacute;</p>") == "ABé"


def test_html_attachment_is_decoded_and_converted():
    r = base_report(presentedForm=[{"contentType": "text/html; charset=utf-8",
                                    "data": b64("<p>Caf&eacute; <b>sign</b></p><script>x()</script>")}])
    assert report_text(r) == "Café sign"
    assert check_report(r) == []


def test_charset_parameter_is_honoured():
    r = base_report(presentedForm=[{"contentType": "text/plain; charset=ISO-8859-1",
                                    "data": b64("Lésion hépatique", "latin-1")}])
    assert report_text(r) == "Lésion hépatique"
    assert check_report(r) == []


def test_utf8_is_the_default_and_a_bom_is_dropped():
    r = base_report(presentedForm=[{"contentType": "text/plain", "data": b64(b"\xef\xbb\xbfL\xc3\xa9sion\r\nline 2")}])
    assert report_text(r) == "Lésion\nline 2"


def test_unknown_charset_is_not_supported():
    r = base_report(presentedForm=[{"contentType": "text/plain; charset=x-klingon", "data": b64("text")}])
    only_issue(check_report(r), "not-supported", "DiagnosticReport.presentedForm[0].contentType")
    with pytest.raises(ReportTextError):
        report_text(r)


def test_bytes_that_do_not_decode_in_the_charset():
    r = base_report(presentedForm=[{"contentType": "text/plain", "data": b64(b"\xff\xfe broken")}])
    issue = only_issue(check_report(r), "value", "DiagnosticReport.presentedForm[0].data")
    assert "utf-8" in issue.diagnostics


def test_bad_base64_is_a_value_error_and_text_falls_back():
    r = base_report(presentedForm=[{"contentType": "text/plain", "data": "not*base64!"}], conclusion="The conclusion.")
    issues = check_report(r)
    only_issue(issues, "value", "DiagnosticReport.presentedForm[0].data")
    assert all(i.is_error for i in issues)  # rejected even though a conclusion exists
    assert report_text(r) == "The conclusion."


def test_base64_with_whitespace_is_fine():
    data = b64("A long enough report text line.")
    r = base_report(presentedForm=[{"contentType": "text/plain", "data": data[:8] + "\n" + data[8:]}])
    assert report_text(r) == "A long enough report text line."


def test_unknown_content_type_alone_is_an_error():
    r = base_report(presentedForm=[{"contentType": "application/pdf", "data": b64(b"%PDF-1.4")}])
    issues = check_report(r)
    only_issue(issues, "not-supported", "DiagnosticReport.presentedForm[0].contentType")
    assert not by_expression(issues, "DiagnosticReport.conclusion")  # the precise issue, not the generic one


def test_unknown_content_type_beside_text_is_a_warning():
    r = base_report(presentedForm=[{"contentType": "application/pdf", "data": b64(b"%PDF-1.4")},
                                   {"contentType": "text/plain", "data": b64("Readable text.")}])
    issues = check_report(r)
    only_issue(issues, "not-supported", "DiagnosticReport.presentedForm[0].contentType", severity="warning")
    assert not any(i.is_error for i in issues)
    assert report_text(r) == "Readable text."


def test_data_without_content_type():
    r = base_report(presentedForm=[{"data": b64("text")}])
    only_issue(check_report(r), "required", "DiagnosticReport.presentedForm[0].contentType")


def test_attachment_by_url_is_not_fetched():
    r = base_report(presentedForm=[{"contentType": "text/plain", "url": "http://example.org/report.txt"}],
                    conclusion="Conclusion text.")
    issues = check_report(r)
    only_issue(issues, "not-supported", "DiagnosticReport.presentedForm[0].url", severity="warning")
    assert not any(i.is_error for i in issues)


def test_no_text_at_all():
    r = base_report()
    issue = only_issue(check_report(r), "required", "DiagnosticReport.presentedForm")
    assert set(issue.expression) == {"DiagnosticReport.presentedForm", "DiagnosticReport.conclusion",
                                     "DiagnosticReport.text.div"}
    with pytest.raises(ReportTextError):
        report_text(r)
    # Whitespace and empty markup are no text either.
    r["conclusion"] = "   \n  "
    r["text"] = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml"><script>x</script></div>'}
    only_issue(check_report(r), "required", "DiagnosticReport.conclusion")


# -- check_report ------------------------------------------------------------------------------


def test_wrong_resource_type():
    issue = only_issue(check_report({"resourceType": "Observation"}), "invalid", "resourceType")
    assert issue.severity == "error"
    assert check_report(["not", "an", "object"])[0].code == "structure"


def test_status_missing_and_not_in_the_value_set():
    r = sample_diagnostic_reports()[0]
    del r["status"]
    issues = check_report(r)
    only_issue(issues, "required", "DiagnosticReport.status")
    assert len(by_expression(issues, "DiagnosticReport.status")) == 1  # R4B's and ours: reported once
    r["status"] = SECRET.replace(" ", "-")
    only_issue(check_report(r), "code-invalid", "DiagnosticReport.status")
    for status in ("registered", "preliminary", "final", "amended", "corrected", "appended", "cancelled",
                   "entered-in-error", "partial"):
        r["status"] = status
        assert check_report(r) == [], status


def test_subject_missing_without_reference_or_of_the_wrong_type():
    r = sample_diagnostic_reports()[0]
    del r["subject"]
    only_issue(check_report(r), "required", "DiagnosticReport.subject")
    r["subject"] = {"display": SECRET}
    only_issue(check_report(r), "required", "DiagnosticReport.subject.reference")
    r["subject"] = {"reference": "Observation/1"}
    only_issue(check_report(r), "value", "DiagnosticReport.subject.reference")
    for ok in ("Patient/1", "Patient/1/_history/2"):
        r["subject"] = {"reference": ok}
        assert not by_expression(check_report(r), "DiagnosticReport.subject.reference"), ok
    # Once accepted, now refused: the results go into a Patient's chart on the EHR's server
    # (tests/unit/test_intake_subject.py has the full list, over HTTP).
    for refused in ("Group/g", "http://ehr.example/fhir/Patient/1/_history/2", "urn:uuid:2b1f3c9e", "#p1"):
        r["subject"] = {"reference": refused}
        only_issue(check_report(r), "value", "DiagnosticReport.subject.reference")
    r["subject"] = {"reference": "http://ehr.example/fhir/Patient/1/_history/2"}
    assert check_report(r, ehr_base_url="http://ehr.example/fhir") == []
    r["subject"] = {"reference": 5}
    only_issue(check_report(r), "structure", "DiagnosticReport.subject.reference")


def test_id_or_identifier_is_required():
    r = sample_diagnostic_reports()[0]
    del r["id"]
    assert check_report(r) == []  # the identifier is enough
    r["identifier"] = [{"system": "urn:x"}]  # no value
    issue = only_issue(check_report(r), "required", "DiagnosticReport.identifier")
    assert "DiagnosticReport.id" in issue.expression
    del r["identifier"]
    only_issue(check_report(r), "required", "DiagnosticReport.id")


def test_r4b_validation_errors_become_issues_with_expressions():
    r = sample_diagnostic_reports()[0]
    r["favouriteColour"] = SECRET
    r["effectiveDateTime"] = SECRET
    r["presentedForm"][0]["contentType"] = 5
    r["code"]["coding"][0]["code"] = f" {SECRET} "
    issues = check_report(r)
    only_issue(issues, "structure", "DiagnosticReport.favouriteColour")
    only_issue(issues, "value", "DiagnosticReport.effectiveDateTime")
    only_issue(issues, "structure", "DiagnosticReport.presentedForm[0].contentType")
    only_issue(issues, "value", "DiagnosticReport.code.coding[0].code")
    for issue in issues:
        assert SECRET not in issue.diagnostics
        assert "Secretpatient" not in issue.diagnostics


def test_missing_required_element_and_choice_conflict():
    r = sample_diagnostic_reports()[0]
    del r["code"]
    only_issue(check_report(r), "required", "DiagnosticReport.code")
    r = sample_diagnostic_reports()[0]
    r["effectivePeriod"] = {"start": "2026-01-01"}  # beside effectiveDateTime: one choice only
    only_issue(check_report(r), "invariant", "DiagnosticReport")


def test_contained_and_invalid_id_errors():
    r = sample_diagnostic_reports()[0]
    r["id"] = "../etc"
    r["contained"] = [{"resourceType": "Patient", "id": "p", "birthDate": "yesterday"}]
    issues = check_report(r)
    only_issue(issues, "value", "DiagnosticReport.id")
    only_issue(issues, "value", "DiagnosticReport.contained[0].birthDate")


def test_many_errors_are_capped():
    r = sample_diagnostic_reports()[0]
    r["presentedForm"] = [{"contentType": "text/plain", "data": "***"} for _ in range(80)]
    issues = check_report(r)
    assert len(issues) == 51
    assert issues[-1].severity == "information"


# -- OperationOutcome ----------------------------------------------------------------------------


def test_operation_outcome_validates_as_r4b():
    r = base_report(status="bogus")
    del r["subject"]
    outcome = operation_outcome(check_report(r))
    OperationOutcome.model_validate(outcome)
    assert {tuple(i.get("expression", [])) for i in outcome["issue"]} >= {
        ("DiagnosticReport.status",), ("DiagnosticReport.subject",)}
    empty = operation_outcome([])
    OperationOutcome.model_validate(empty)
    assert empty["issue"][0]["severity"] == "information"


def test_issue_rebased():
    issue = Issue.error("value", "bad", "DiagnosticReport.status", "DiagnosticReport", "Other.x")
    moved = issue.rebased("DiagnosticReport", "Bundle.entry[3].resource")
    assert moved.expression == ("Bundle.entry[3].resource.status", "Bundle.entry[3].resource", "Other.x")
    assert Issue.info("informational", "x", "A.b").to_fhir() == {
        "severity": "information", "code": "informational", "diagnostics": "x", "expression": ["A.b"]}
    with pytest.raises(ValueError):
        Issue("severe", "value", "x")
