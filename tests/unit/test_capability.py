"""``GET /fhir/metadata`` and ``GET /fhir/OperationDefinition/preview``: valid R4 resources, no token
needed, and they claim only what the intake implements."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationdefinition import OperationDefinition

from integration.intake.http import PROBE_ENDPOINTS, PUBLIC_ENDPOINTS
from integration.intake.http.app import create_app
from integration.intake.http.body import JSON_TYPES
from integration.intake.http.capability import software_version
from tests.unit.test_intake import AUTH, log_stream, make_settings, store  # noqa: F401 -- pytest fixtures, taken by name as test parameters

METADATA = "/fhir/metadata"
PREVIEW_DEFINITION = "/fhir/OperationDefinition/preview"


@pytest.fixture
def client(tmp_path, store):
    return create_app(make_settings(tmp_path, public_base_url="https://radlite.example.org/"), store).test_client()


def get_ok(client, path: str, **kw) -> dict:
    r = client.get(path, **kw)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == "application/fhir+json"
    return r.get_json(force=True)


def test_metadata_is_a_valid_capability_statement_without_a_token(client):
    cs = get_ok(client, METADATA)
    CapabilityStatement.model_validate(cs)
    assert (cs["status"], cs["kind"], cs["fhirVersion"]) == ("active", "instance", "4.0.1")
    assert cs["format"][0] == "json" and set(JSON_TYPES) <= set(cs["format"])
    assert "xml" not in cs["format"]
    assert cs["software"] == {"name": "radlite-fhir", "version": software_version()}
    assert software_version() not in ("", "0")  # the package is installed in the test environment
    assert cs["implementation"]["url"] == "https://radlite.example.org/fhir"
    [rest] = cs["rest"]
    assert rest["mode"] == "server"
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch"}


def test_metadata_claims_only_what_is_implemented(client):
    [rest] = get_ok(client, METADATA)["rest"]
    [resource] = rest["resource"]
    assert resource["type"] == "DiagnosticReport"
    # No read, vread, search-type or history: reports are queued, not served back.
    assert [i["code"] for i in resource["interaction"]] == ["create", "update"]
    assert "searchParam" not in resource and "searchParam" not in rest
    assert [(op["name"], op["definition"]) for op in resource["operation"]] == [
        ("preview", "https://radlite.example.org/fhir/OperationDefinition/preview")]
    # Bearer tokens with scopes, described in text: there is no SMART/OAuth server to point at.
    security = rest["security"]
    assert security["cors"] is False
    assert "coding" not in security["service"][0]
    for scope in ("intake", "preview", "jobs:read"):
        assert f"'{scope}'" in security["description"]


def test_the_claimed_routes_exist(client):
    # Each interaction and the operation answer for themselves (401 without a token, not 404/405).
    for method, path in (("POST", "/fhir/DiagnosticReport"), ("PUT", "/fhir/DiagnosticReport/r1"),
                         ("POST", "/fhir"), ("POST", "/fhir/DiagnosticReport/$preview")):
        assert client.open(path, method=method).status_code == 401, (method, path)
    assert client.get("/fhir/DiagnosticReport/r1", headers=AUTH).status_code == 405  # no read


def test_preview_operation_definition_without_a_token(client):
    od = get_ok(client, PREVIEW_DEFINITION)
    OperationDefinition.model_validate(od)
    assert od["url"] == "https://radlite.example.org/fhir/OperationDefinition/preview"
    assert (od["id"], od["code"], od["kind"], od["status"]) == ("preview", "preview", "operation", "active")
    assert od["resource"] == ["DiagnosticReport"]
    assert (od["system"], od["type"], od["instance"], od["affectsState"]) == (False, True, False, False)
    params = {(p["use"], p["name"]): (p["type"], p["min"], p["max"]) for p in od["parameter"]}
    assert params == {("in", "resource"): ("DiagnosticReport", 1, "1"), ("out", "return"): ("Bundle", 1, "1")}


def test_without_public_base_url_there_is_no_implementation_url(tmp_path, store):
    client = create_app(make_settings(tmp_path), store).test_client()
    cs = get_ok(client, METADATA, headers={"Accept": "application/fhir+json"})
    CapabilityStatement.model_validate(cs)
    assert "url" not in cs["implementation"]
    # The canonical of the operation still has to be absolute: the request's host.
    [op] = cs["rest"][0]["resource"][0]["operation"]
    assert op["definition"] == "http://localhost/fhir/OperationDefinition/preview"
    assert get_ok(client, PREVIEW_DEFINITION)["url"] == op["definition"]


def test_open_mode_says_so(tmp_path, store):
    client = create_app(make_settings(tmp_path, auth={"mode": "open"}), store).test_client()
    security = get_ok(client, METADATA)["rest"][0]["security"]
    assert "service" not in security and "switched off" in security["description"]


def test_a_token_is_not_needed_but_a_bad_one_does_not_hurt(client):
    assert client.get(METADATA, headers={"Authorization": "Bearer wrong"}).status_code == 200
    assert client.get(METADATA, headers=AUTH).status_code == 200
    assert client.head(METADATA).status_code == 200


def test_other_methods_and_neighbours_still_need_a_token(client):
    # Only the two reads are public: a POST there, or another OperationDefinition, is not.
    assert client.post(METADATA).status_code == 401
    assert client.get("/fhir/OperationDefinition/other").status_code == 401
    assert client.get("/fhir/OperationDefinition/other", headers=AUTH).status_code == 404


def test_the_endpoints_are_public_and_not_audited():
    for endpoint in ("capability.metadata", "capability.preview_definition"):
        assert endpoint in PUBLIC_ENDPOINTS and endpoint in PROBE_ENDPOINTS


def test_metadata_reads_leave_no_audit_lines(client, log_stream):
    get_ok(client, METADATA)
    get_ok(client, PREVIEW_DEFINITION)
    assert "request.received" not in log_stream.getvalue()
    client.get("/jobs/" + "0" * 32)  # an ordinary request is audited
    assert "request.received" in log_stream.getvalue()
