"""The hash-chained audit file: every kind of tampering is found by `radlite audit verify`, and
rotation and concurrent writers keep one valid chain."""

from __future__ import annotations

import json
import multiprocessing
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from integration.audit.chain import GENESIS, Anchor, AuditFile, anchor_path, record_hash, rotated, verify
from integration.ops.cli import cli


def make_chain(path: Path, n: int = 10, max_bytes: int = 0, **extra) -> list[dict]:
    f = AuditFile(path, max_bytes=max_bytes)
    return [f.append({"ts": f"2026-03-02T09:{i // 60:02d}:{i % 60:02d}Z", "event": "job.queued",
                      "correlation_id": f"c-{i % 3}", "job": f"job{i}", "report": "h:0123456789abcdef", **extra})
            for i in range(n)]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def write(path: Path, rows: list[str]) -> None:
    path.write_text("".join(rows))


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, ["audit", *args], obj={}, env=env, catch_exceptions=False)


def kinds(res) -> set[str]:
    return {p.kind for p in res.problems}


@pytest.fixture()
def chain(tmp_path) -> Path:
    path = tmp_path / "audit.jsonl"
    make_chain(path)
    return path


def test_intact_chain_verifies(chain) -> None:
    res = verify([chain])
    assert res.ok and res.records == 10 and (res.first_seq, res.last_seq) == (1, 10)
    recs = [json.loads(line) for line in lines(chain)]
    assert recs[0]["prev"] == GENESIS
    assert all(r["prev"] == p["hash"] and r["hash"] == record_hash(r) for p, r in zip(recs, recs[1:]))
    out = run("verify", str(chain))
    assert out.exit_code == 0 and out.stdout.startswith("OK ") and "10 records" in out.stdout


def test_edit_is_detected_and_located(chain) -> None:
    rows = lines(chain)
    rec = json.loads(rows[4])
    rec["job"] = "someone-else"
    rows[4] = json.dumps(rec) + "\n"
    write(chain, rows)
    res = verify([chain])
    assert kinds(res) == {"edited"}
    assert (res.problems[0].line, res.problems[0].seq) == (5, 5)
    out = run("verify", str(chain))
    assert out.exit_code == 1 and f"{chain}:5 (seq 5): edited" in out.stdout


def test_edit_with_recomputed_hash_breaks_the_next_link(chain) -> None:
    rows = lines(chain)
    rec = json.loads(rows[4])
    rec["event"] = "writeback.succeeded"
    rec["hash"] = record_hash(rec)
    rows[4] = json.dumps(rec) + "\n"
    write(chain, rows)
    res = verify([chain], sidecar=False)
    assert kinds(res) == {"broken-chain"} and res.problems[0].seq == 6 and res.problems[0].line == 6


def test_deletion_is_detected(chain) -> None:
    rows = lines(chain)
    del rows[4]
    write(chain, rows)
    res = verify([chain])
    assert {"broken-chain", "seq"} <= kinds(res)
    assert all(p.line == 5 and p.seq == 6 for p in res.problems if p.kind in ("broken-chain", "seq"))
    assert "expected seq 5, found 6" in run("verify", str(chain)).stdout


def test_swap_is_detected(chain) -> None:
    rows = lines(chain)
    rows[3], rows[4] = rows[4], rows[3]
    write(chain, rows)
    res = verify([chain])
    assert {"broken-chain", "seq"} <= kinds(res)
    assert {p.line for p in res.problems} >= {4, 5}
    assert run("verify", str(chain)).exit_code == 1


def test_insertion_of_a_well_formed_record_is_detected(chain) -> None:
    rows = lines(chain)
    before = json.loads(rows[3])
    forged = {"seq": before["seq"] + 1, "ts": before["ts"], "event": "writeback.succeeded", "job": "job3",
              "prev": before["hash"]}
    forged["hash"] = record_hash(forged)
    rows.insert(4, json.dumps(forged) + "\n")
    write(chain, rows)
    res = verify([chain])
    assert {"broken-chain", "seq"} <= kinds(res)
    assert {(p.line, p.seq) for p in res.problems} == {(6, 5)}  # the genuine seq 5 no longer links
    assert "(seq 5)" in run("verify", str(chain)).stdout


def test_tail_truncation_is_detected_by_the_anchor_sidecar(chain) -> None:
    recs = [json.loads(line) for line in lines(chain)]
    write(chain, lines(chain)[:7])
    res = verify([chain])
    assert kinds(res) == {"truncated"}
    assert res.problems[0].seq == 7 and "seq 10" in res.problems[0].message
    out = run("verify", str(chain))
    assert out.exit_code == 1 and "truncated" in out.stdout

    # Without the sidecar (an attacker deleted it too) only an external anchor tells.
    anchor_path(chain).unlink()
    res = verify([chain])
    assert res.ok and any("anchor" in n for n in res.notes)
    assert "note:" in run("verify", str(chain)).stdout
    last = recs[-1]
    assert kinds(verify([chain], expect_last=last["hash"])) == {"truncated"}
    assert kinds(verify([chain], expect_count=10)) == {"truncated"}
    for args in (["--anchor", f"10:{last['hash'][:16]}"], ["--expect-last", last["hash"]], ["--expect-count", "10"]):
        out = run("verify", str(chain), *args)
        assert out.exit_code == 1 and "truncated" in out.stdout, args
    assert run("verify", str(chain), "--anchor", f"7:{recs[6]['hash']}").exit_code == 0


def test_anchor_catches_a_rewritten_tail(chain) -> None:
    """A rewrite of every record from seq 4 on (all hashes recomputed) is a valid chain by itself;
    an anchor taken earlier shows it."""
    anchor = json.loads(lines(chain)[5])
    rows = [json.loads(line) for line in lines(chain)]
    for i in range(3, len(rows)):
        rows[i]["job"] = "rewritten"
        rows[i]["prev"] = rows[i - 1]["hash"]
        rows[i]["hash"] = record_hash(rows[i])
    write(chain, [json.dumps(r) + "\n" for r in rows])
    anchor_path(chain).unlink()
    assert verify([chain]).ok
    res = verify([chain], anchors=[Anchor(anchor["seq"], anchor["hash"], "ticket")])
    assert kinds(res) == {"anchor"} and res.problems[0].seq == 6


def test_head_truncation_and_partial(chain) -> None:
    write(chain, lines(chain)[2:])
    res = verify([chain])
    assert kinds(res) == {"start"} and res.problems[0].seq == 3
    assert verify([chain], partial=True).ok
    assert run("verify", "--partial", str(chain)).exit_code == 0


def test_damaged_and_cut_lines(chain) -> None:
    rows = lines(chain)
    rows[2] = rows[2][:40] + "\n"
    rows[-1] = rows[-1][:-1]  # no final newline
    write(chain, rows)
    res = verify([chain], sidecar=False)
    assert [p.kind for p in res.problems if p.line == 3] == ["damaged"]
    assert any(p.kind == "damaged" and p.line == 10 for p in res.problems)


def test_writer_keeps_a_cut_visible(chain) -> None:
    """Records cut off before the next append: the writer goes on from the anchor, so the gap
    stays in the chain even though the sidecar moves on."""
    write(chain, lines(chain)[:6])
    make_chain(chain, 2)
    res = verify([chain])
    assert {"broken-chain", "seq"} <= kinds(res)
    assert any(p.seq == 11 and p.line == 7 for p in res.problems)


def test_rotation_keeps_the_chain(tmp_path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    recs = make_chain(path, 60, max_bytes=2000)
    files = rotated(path)
    assert len(files) >= 4 and files[-1] == path and files[0].name.endswith(f".{len(files) - 1}")
    assert all(f.stat().st_size <= 2000 for f in files)
    for older, newer in zip(files, files[1:]):
        last = json.loads(lines(older)[-1])
        first = json.loads(lines(newer)[0])
        assert first["prev"] == last["hash"] and first["seq"] == last["seq"] + 1
    res = verify([path.parent])
    assert res.ok and res.records == 60 and res.last_hash == recs[-1]["hash"]
    shuffled = list(files)
    random.Random(1).shuffle(shuffled)
    assert verify(shuffled).ok  # put in chain order by name
    assert verify([str(path.parent / "audit.jsonl*")]).ok  # a glob
    out = run("verify", str(path.parent))
    assert out.exit_code == 0 and "60 records" in out.stdout

    # A lost middle file, or the newest file alone, is reported.
    middle = files[1]
    middle.rename(tmp_path / "elsewhere")
    res = verify([path.parent])
    assert {"broken-chain", "seq"} <= kinds(res)
    assert res.problems[0].file == str(files[2]) and res.problems[0].line == 1
    assert kinds(verify([path])) == {"start"}


def _writer(path: str, worker: int, n: int) -> None:
    f = AuditFile(Path(path), max_bytes=20_000)
    for i in range(n):
        f.append({"ts": "2026-03-02T09:00:00Z", "event": "test.concurrent", "worker": worker, "i": i})


def test_concurrent_appends_from_processes_form_one_chain(tmp_path) -> None:
    path = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 75)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    res = verify([tmp_path])
    assert res.ok, [str(p) for p in res.problems]
    assert res.records == 300 and res.last_seq == 300 and len(rotated(path)) > 1
    seen = {(r["worker"], r["i"]) for f in rotated(path) for r in map(json.loads, lines(f))}
    assert seen == {(w, i) for w in range(4) for i in range(75)}


def test_verify_json_output_and_missing_file(tmp_path, chain) -> None:
    out = run("verify", "--json", str(chain))
    data = json.loads(out.stdout)
    assert data["ok"] is True and data["chains"][0]["records"] == 10
    out = run("verify", str(tmp_path / "nope.jsonl"))
    assert out.exit_code == 1 and "missing-file" in out.stdout
    assert run("verify", "--anchor", "x", str(chain)).exit_code == 2
