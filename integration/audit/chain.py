"""The hash-chained audit file: append (multi-process safe, rotating) and verify.

Each line is one JSON record::

    {"seq": 7, "ts": "...Z", "event": "job.queued", "correlation_id": "...", ...fields,
     "prev": "<hash of record 6>", "hash": "<sha256 of this record without 'hash'>"}

``hash`` = SHA-256 (hex) over the canonical JSON of the record without ``hash`` (keys sorted, no
whitespace, UTF-8). It is a plain hash, not an HMAC, on purpose: anyone can verify a chain without
the site secret (which would let them de-pseudonymise ids). What a plain chain cannot show by
itself -- a rewrite of the whole tail, or a tail cut off -- is caught against an **anchor**
(seq + hash of a record) kept elsewhere: the ``.anchor`` sidecar, the ``audit_seq``/``audit_hash``
of every audit line in the JSON log stream, or an anchor an auditor wrote down. See docs/audit.md.

Writers hold an ``fcntl.flock`` on ``<file>.lock`` around read-last-record + append + anchor
update, so intake, worker and scheduler processes can share one file. Past ``max_bytes`` the file
is rotated logrotate-style (``audit.jsonl`` -> ``audit.jsonl.1`` -> ``audit.jsonl.2`` ...; nothing
is deleted) and the new file's first record links to the last hash of the old one.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

GENESIS = "0" * 64
RESERVED = ("seq", "prev", "hash")
_ROTATED = re.compile(r"^(?P<base>.+)\.(?P<n>\d+)$")
_HEX = re.compile(r"^[0-9a-f]{8,64}$")
# The chain, its anchor and lock file are created readable by their owner only (the service user):
# the records hold keyed hashes, not identifiers, but which report was handled when, and by whom,
# is still nobody else's business. Auditors read them through the service user or a copy.
FILE_MODE = 0o600


def canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


_PLAIN = (str, int, float, bool, type(None))


def _normalize(record: dict[str, Any]) -> dict[str, Any]:
    """What the record will read back as (tuples -> lists, odd types -> str), so the hash
    computed now is the hash a verifier recomputes from the line."""
    if all(type(k) is str and type(v) in _PLAIN for k, v in record.items()):
        return dict(record)  # reads back as it is: no round trip needed (the usual event)
    return json.loads(json.dumps(record, default=str, ensure_ascii=False))


def anchor_path(path: Path) -> Path:
    return path.with_name(path.name + ".anchor")


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def rotated(path: Path) -> list[Path]:
    """``path`` and its rotated files, oldest first (``.N`` with the highest N is the oldest)."""
    found = []
    if path.parent.is_dir():
        for p in path.parent.iterdir():
            m = _ROTATED.match(p.name)
            if m and m["base"] == path.name and p.is_file():
                found.append((int(m["n"]), p))
    ordered = [p for _, p in sorted(found, key=lambda t: -t[0])]
    return ordered + ([path] if path.is_file() else [])


@contextlib.contextmanager
def _flock(path: Path, shared: bool = False) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    except FileNotFoundError:  # the directory first (once, not a mkdir per record)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def _shared_lock(path: Path) -> Iterator[None]:
    """A shared lock for readers, when the lock file is there and readable (archives may be
    read-only: then nobody is writing and no lock is needed)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _last_record(path: Path) -> dict[str, Any] | None:
    """The last parseable record of ``path`` (reads the tail only)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            block = 4096  # a record is a few hundred bytes: the last one is almost always in here
            while True:
                start = max(0, size - block)
                f.seek(start)
                chunk = f.read(size - start)
                lines = chunk.split(b"\n")
                if start > 0:
                    lines = lines[1:]  # the first may be cut
                for line in reversed(lines):
                    if not line.strip():
                        continue
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(rec, dict) and isinstance(rec.get("seq"), int) and isinstance(rec.get("hash"), str):
                        return rec
                if start == 0:
                    return None
                block *= 4
    except FileNotFoundError:
        return None


def read_anchor(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("seq"), int) and isinstance(data.get("hash"), str):
        return data
    return None


class AuditFile:
    """Appends records to a hash-chained JSON-lines file. Safe across threads and processes."""

    def __init__(self, path: str | Path, max_bytes: int = 0, fsync: bool = False) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self._lock = threading.Lock()
        self._tail: tuple[tuple[int, int], int, str] | None = None  # ((inode, size), seq, hash)
        self._lock_path = lock_path(self.path)
        self._anchor_path = anchor_path(self.path)

    # -- the chain's current end ---------------------------------------------------------------

    def _file_end_read(self, key: tuple[int, int] | None) -> tuple[int, str]:
        rec = _last_record(self.path) if key is not None and key[1] > 0 else None
        if rec is None:
            files = rotated(self.path)
            older = [p for p in files if p != self.path]
            rec = _last_record(older[-1]) if older else None
        return (rec["seq"], rec["hash"]) if rec else (0, GENESIS)

    def _end(self) -> tuple[int, str]:
        try:
            st = self.path.stat()
            key: tuple[int, int] | None = (st.st_ino, st.st_size)
        except FileNotFoundError:
            key = None
        if key is not None and self._tail is not None and self._tail[0] == key:
            # The file is exactly as this writer left it (no other writer appended, nothing was
            # cut or rotated), so the sidecar holds the record this writer wrote last: no need
            # to read it back.
            return self._tail[1], self._tail[2]
        seq, last = self._file_end_read(key)
        anchor = read_anchor(self._anchor_path)
        # The anchor is written after the record, so it is never ahead of an intact file: when it
        # is, records were cut off, and the chain goes on from the anchor so the gap stays visible.
        if anchor is not None and anchor["seq"] >= seq:
            return anchor["seq"], anchor["hash"]
        return seq, last

    # -- appending -----------------------------------------------------------------------------

    def _rotate(self) -> None:
        files = [p for p in rotated(self.path) if p != self.path]
        for p in files:  # the oldest (highest .N) first, so nothing is overwritten
            n = int(_ROTATED.match(p.name)["n"])  # type: ignore[index]
            os.rename(p, p.with_name(f"{self.path.name}.{n + 1}"))
        os.rename(self.path, self.path.with_name(self.path.name + ".1"))

    def append(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Append one record made of ``fields``; returns it with ``seq``, ``prev`` and ``hash``."""
        body = {(f"{k}_" if k in RESERVED else k): v for k, v in fields.items()}
        with self._lock, _flock(self._lock_path):
            seq, prev = self._end()
            record = _normalize({"seq": seq + 1, **body, "prev": prev})
            record["hash"] = record_hash(record)
            line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
            # (the directory exists: the lock file beside the chain was just opened)
            if self.max_bytes and self.path.is_file():
                size = self.path.stat().st_size
                if size > 0 and size + len(line) > self.max_bytes:
                    self._rotate()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view):]
                if self.fsync:
                    os.fsync(fd)
                st = os.fstat(fd)
            finally:
                os.close(fd)
            self._tail = ((st.st_ino, st.st_size), record["seq"], record["hash"])
            self._write_anchor(record)
        return record

    def _write_anchor(self, record: dict[str, Any]) -> None:
        # In place under the writers' lock (a rename per record costs more than the append);
        # verify reads it under the shared lock. A torn anchor after a crash reads as none.
        data = (json.dumps({"seq": record["seq"], "hash": record["hash"], "ts": record.get("ts")}) + "\n").encode()
        fd = os.open(self._anchor_path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
        try:
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)


# -- reading and verifying ---------------------------------------------------------------------


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files, directories (every ``*.jsonl`` chain in them) and globs -> files in chain order:
    per base name, the highest ``.N`` (oldest) first and the base file last."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(q for q in p.iterdir() if q.is_file() and _is_chain_file(q.name))
        elif any(c in str(raw) for c in "*?[") and not p.exists():
            out.extend(Path(q) for q in glob.glob(str(raw)) if Path(q).is_file() and _is_chain_file(Path(q).name))
        else:
            out.append(p)
    seen: dict[Path, None] = {}
    for p in out:
        seen.setdefault(p, None)

    def key(p: Path) -> tuple[str, str, int]:
        m = _ROTATED.match(p.name)
        if m and not p.name.endswith((".lock", ".anchor", ".tmp")):
            return str(p.parent), m["base"], -int(m["n"])
        return str(p.parent), p.name, 0

    return sorted(seen, key=key)


def _is_chain_file(name: str) -> bool:
    if name.endswith((".anchor", ".lock", ".tmp")):
        return False
    m = _ROTATED.match(name)
    return (m["base"] if m else name).endswith(".jsonl")


@dataclass
class Problem:
    file: str
    line: int | None
    seq: int | None
    kind: str  # edited | broken-chain | seq | damaged | start | truncated | anchor | missing-file
    message: str

    def where(self) -> str:
        loc = self.file + (f":{self.line}" if self.line is not None else "")
        return loc + (f" (seq {self.seq})" if self.seq is not None else "")

    def __str__(self) -> str:
        return f"{self.where()}: {self.kind}: {self.message}"


@dataclass
class Anchor:
    seq: int
    hash: str
    source: str

    @classmethod
    def parse(cls, text: str, source: str = "--anchor") -> "Anchor":
        seq, _, h = text.partition(":")
        h = h.strip().lower()
        if not seq.strip().isdigit() or not _HEX.match(h):
            raise ValueError(f"anchor must be SEQ:HASH (hash: 8-64 hex digits), got {text!r}")
        return cls(int(seq), h, source)


@dataclass
class VerifyResult:
    files: list[str] = field(default_factory=list)
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        d["problems"] = [{**asdict(p), "where": p.where()} for p in self.problems]
        return d


def iter_records(files: Iterable[Path]) -> Iterator[tuple[Path, int, dict[str, Any] | None, bytes]]:
    """(file, line number, record or None when the line is not a JSON object, raw line)."""
    for path in files:
        with open(path, "rb") as f:
            for n, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw)
                except ValueError:
                    rec = None
                yield path, n, rec if isinstance(rec, dict) else None, raw


def verify(paths: Iterable[str | Path], *, anchors: Iterable[Anchor] = (), expect_last: str | None = None,
           expect_count: int | None = None, partial: bool = False, sidecar: bool = True) -> VerifyResult:
    """Check a chain (one file, or a rotated set given in any order) record by record.

    Detects edited records (hash), deleted / inserted / reordered records (``prev`` and ``seq``),
    damaged lines, a chain that does not start at the beginning (unless ``partial``), and -- with
    an anchor (the sidecar, ``anchors``, ``expect_last``/``expect_count``) -- a cut-off tail."""
    files = expand(paths)
    res = VerifyResult(files=[str(p) for p in files])
    all_anchors = list(anchors)
    missing = [p for p in files if not p.is_file()]
    for p in missing:
        res.problems.append(Problem(str(p), None, None, "missing-file", "no such file"))
    files = [p for p in files if p.is_file()]
    if not files:
        if not missing:
            res.problems.append(Problem("-", None, None, "missing-file", "no audit files given or found"))
        return res
    newest = files[-1]
    lock_ctx = _shared_lock(lock_path(newest))
    with lock_ctx:
        # The sidecar is read before the records: an append racing with us can only make the
        # records newer than the anchor, never the other way round.
        if sidecar:
            side = read_anchor(anchor_path(newest))
            if side is not None:
                all_anchors.append(Anchor(side["seq"], side["hash"], str(anchor_path(newest))))
            else:
                res.notes.append(f"no anchor file {anchor_path(newest).name}: a cut-off tail can only be "
                                 "ruled out against an external anchor (--anchor, --expect-last, --anchor-log)")
        by_seq, last_where = _walk(files, res, partial)
    for a in all_anchors:
        h = by_seq.get(a.seq)
        if h is None:
            if res.last_seq is None or a.seq > res.last_seq:
                res.problems.append(Problem(last_where[0], last_where[1], res.last_seq, "truncated",
                                            f"records after seq {res.last_seq} are missing: {a.source} says seq "
                                            f"{a.seq} (hash {a.hash[:16]}) was written"))
            else:
                res.problems.append(Problem(last_where[0], None, a.seq, "anchor",
                                            f"seq {a.seq} from {a.source} is not in the chain"))
        elif not h.startswith(a.hash):
            res.problems.append(Problem(last_where[0], None, a.seq, "anchor",
                                        f"seq {a.seq} has hash {h[:16]}, {a.source} says {a.hash[:16]}: "
                                        "the chain was rewritten from here or earlier"))
    if expect_last is not None and not (res.last_hash or "").startswith(expect_last.lower()):
        res.problems.append(Problem(last_where[0], last_where[1], res.last_seq, "truncated",
                                    f"the last record's hash is {str(res.last_hash)[:16]}, expected "
                                    f"{expect_last[:16]} (records cut off, added or rewritten at the end)"))
    if expect_count is not None and res.records != expect_count:
        res.problems.append(Problem(last_where[0], last_where[1], res.last_seq, "truncated",
                                    f"{res.records} records, expected {expect_count}"))
    return res


def _walk(files: list[Path], res: VerifyResult, partial: bool) -> tuple[dict[int, str], tuple[str, int | None]]:
    hashes: dict[int, str] = {}
    expected_seq: int | None = None
    expected_prev: str | None = None
    last_where: tuple[str, int | None] = (str(files[-1]), None)
    first = True
    for path, n, rec, raw in iter_records(files):
        where = str(path)
        last_where = (where, n)
        if not raw.endswith(b"\n"):
            res.problems.append(Problem(where, n, None, "damaged", "the last line is incomplete (cut-off write or edit)"))
        if rec is None:
            res.problems.append(Problem(where, n, None, "damaged", "not a JSON object (damaged or edited line)"))
            expected_seq = expected_prev = None  # resynchronise on the next good record
            first = False
            continue
        seq, prev, stored = rec.get("seq"), rec.get("prev"), rec.get("hash")
        if not isinstance(seq, int) or not isinstance(prev, str) or not isinstance(stored, str):
            res.problems.append(Problem(where, n, seq if isinstance(seq, int) else None, "damaged",
                                        "record without seq, prev or hash"))
            expected_seq = expected_prev = None
            first = False
            continue
        res.records += 1
        if first:
            res.first_seq = seq
            if prev != GENESIS or seq != 1:
                if partial:
                    res.notes.append(f"chain checked from seq {seq} ({where}:{n}); earlier records not given")
                else:
                    res.problems.append(Problem(where, n, seq, "start",
                                                f"the chain does not start at its beginning (seq {seq}, prev "
                                                f"{prev[:16]}): earlier records or files are missing"))
            first = False
        else:
            if expected_prev is not None and prev != expected_prev:
                res.problems.append(Problem(where, n, seq, "broken-chain",
                                            "prev is not the hash of the record before it: a record was "
                                            "deleted, inserted or moved just before this one"))
            if expected_seq is not None and seq != expected_seq:
                what = "missing" if seq > expected_seq else "repeated or out of order"
                res.problems.append(Problem(where, n, seq, "seq",
                                            f"expected seq {expected_seq}, found {seq} (records {what})"))
        actual = record_hash(rec)
        if actual != stored:
            res.problems.append(Problem(where, n, seq, "edited",
                                        "the record does not match its hash: its content was changed"))
        hashes.setdefault(seq, stored)
        expected_seq, expected_prev = seq + 1, stored
        res.last_seq, res.last_hash = seq, stored
    return hashes, last_where


def anchors_from_log(path: str | Path) -> list[Anchor]:
    """Anchors from a JSON log stream: every audit line carries ``audit_seq`` and ``audit_hash``."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("audit_seq"), int) and isinstance(rec.get("audit_hash"), str):
                out.append(Anchor(rec["audit_seq"], rec["audit_hash"], f"log {Path(path).name}"))
    return out


def records(paths: Iterable[str | Path]) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """Every parseable record of the files, in chain order."""
    for path, n, rec, _ in iter_records(expand(paths)):
        if rec is not None:
            yield path, n, rec
