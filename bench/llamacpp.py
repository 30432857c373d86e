"""llama.cpp (through llama-cpp-python) for the benchmarks: GGUF conversion and greedy generation
from token ids.

Used by the other bench scripts (bench/engine.py, bench/pipeline.py); keep the interface stable:

* ``available() -> bool`` -- llama_cpp importable and llama.cpp's ``convert_hf_to_gguf.py`` found;
* ``to_gguf(hf_dir, quant, cache_dir) -> Path`` -- a transformers folder as GGUF, quant in
  ``F16``, ``Q8_0``, ``Q4_K_M``; cached in ``cache_dir`` by (the folder's file names, sizes and
  mtimes, quant), so a rebuilt folder is converted again and an unchanged one is not;
* ``LlamaCpp(gguf, n_threads, n_ctx=4096, n_batch=512).generate(prompt_ids, max_new_tokens,
  stop_ids) -> GenResult`` -- greedy, fed our tokenizer's ids directly (the prompt is the same
  token sequence CTranslate2 gets), llama-cpp-python's prefix reuse left on.

Where the converter comes from: llama-cpp-python's source distribution vendors llama.cpp,
including ``convert_hf_to_gguf.py``, its ``conversion/`` package and ``gguf-py`` (the installed
wheel has none of them). A copy of the sdist of the installed version is kept under
``.cache/bench/sdist`` (``python bench/llamacpp.py fetch`` downloads it with pip) and the three
are extracted next to it. ``RADLITE_LLAMA_CONVERTER`` may point at another convert_hf_to_gguf.py.

Installing llama-cpp-python compiles llama.cpp (about 10 min on 2 cores)::

    CMAKE_ARGS="-DGGML_NATIVE=ON" .venv/bin/pip install -e '.[bench]'

F16 comes from the converter; Q8_0 and Q4_K_M are quantized from the F16 file with
``llama_cpp.llama_model_quantize`` (llama.cpp's own quantizer, the one llama-quantize runs).
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import importlib.util
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = ROOT / ".cache" / "bench"
SDIST_DIR = DEFAULT_CACHE / "sdist"
QUANTS = ("F16", "Q8_0", "Q4_K_M")
# llama_ftype values (llama.h): the file type llama_model_quantize writes.
_FTYPES = {"Q8_0": 7, "Q4_K_M": 15}
# What the converter needs from vendor/llama.cpp in the sdist.
_VENDOR = "vendor/llama.cpp/"
_VENDOR_KEEP = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/", "LICENSE")


# -- availability and the converter -----------------------------------------------------------


def llama_cpp_version() -> str | None:
    try:
        import importlib.metadata as md  # noqa: PLC0415 -- kept out of the measured children (bench/engine.py imports this)

        return md.version("llama-cpp-python")
    except Exception:
        return None


def _sdists() -> list[Path]:
    version = llama_cpp_version()
    if not SDIST_DIR.is_dir():
        return []
    found = sorted(SDIST_DIR.glob("llama_cpp_python-*.tar.gz"))
    exact = [p for p in found if version and p.name == f"llama_cpp_python-{version}.tar.gz"]
    return exact or found[-1:]


def converter_path(extract: bool = True) -> Path | None:
    """llama.cpp's convert_hf_to_gguf.py: $RADLITE_LLAMA_CONVERTER, or the one extracted from the
    kept sdist (extracted on first use when ``extract``); None when there is none."""
    env = os.environ.get("RADLITE_LLAMA_CONVERTER")
    if env:
        path = Path(env)
        return path if path.is_file() else None
    for sdist in _sdists():
        dest = SDIST_DIR / sdist.name.removesuffix(".tar.gz")
        script = dest / "convert_hf_to_gguf.py"
        if script.is_file() and (dest / ".complete").is_file():
            return script
        if not extract:
            return None
        _extract_converter(sdist, dest)
        return script if script.is_file() else None
    return None


def _extract_converter(sdist: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist, "r:gz") as tar:
        members = []
        for m in tar.getmembers():
            _, _, rel = m.name.partition("/")
            if not rel.startswith(_VENDOR):
                continue
            rel = rel[len(_VENDOR):]
            if rel and any(rel == k or (k.endswith("/") and rel.startswith(k)) for k in _VENDOR_KEEP):
                if m.isfile() or m.isdir():
                    m.name = rel
                    members.append(m)
        tar.extractall(dest, members=members, filter="data")
    (dest / ".complete").write_text(sdist.name + "\n")


def fetch_sdist() -> Path:
    """Download the sdist of the installed llama-cpp-python version into .cache/bench/sdist."""
    version = llama_cpp_version()
    if not version:
        raise RuntimeError("llama-cpp-python is not installed (pip install -e '.[bench]')")
    SDIST_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    "-d", str(SDIST_DIR), f"llama-cpp-python=={version}"], check=True)
    return SDIST_DIR / f"llama_cpp_python-{version}.tar.gz"


def available() -> bool:
    """llama_cpp importable and the HF -> GGUF converter found (or extractable from the kept sdist)."""
    if importlib.util.find_spec("llama_cpp") is None:
        return False
    try:
        import llama_cpp  # noqa: F401, PLC0415 -- optional (the bench extra); imported to load the shared library
    except Exception:
        return False
    return converter_path() is not None


def why_unavailable() -> str:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama_cpp is not installed (CMAKE_ARGS=-DGGML_NATIVE=ON pip install -e '.[bench]'; compiles llama.cpp)"
    try:
        import llama_cpp  # noqa: F401, PLC0415 -- optional (the bench extra); imported to load the shared library
    except Exception as exc:  # pragma: no cover - a broken build
        return f"llama_cpp does not import: {exc}"
    if converter_path() is None:
        return ("llama.cpp's convert_hf_to_gguf.py not found: run `python bench/llamacpp.py fetch` "
                f"(keeps the llama-cpp-python sdist in {SDIST_DIR}) or set RADLITE_LLAMA_CONVERTER")
    return ""


# -- conversion -------------------------------------------------------------------------------


def folder_key(hf_dir: Path) -> str:
    """Identity of a transformers folder: its files' names, sizes and mtimes (no content read,
    so a 6 GB folder is keyed instantly; a rebuilt folder gets new mtimes and a new key)."""
    digest = hashlib.sha256(str(hf_dir.resolve()).encode())
    for p in sorted(hf_dir.rglob("*")):
        if p.is_file():
            st = p.stat()
            digest.update(f"{p.relative_to(hf_dir)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


# Runs convert_hf_to_gguf.py (argv: script, allow-unknown flag, the converter's arguments). With the
# flag, a BPE pre-tokenizer the converter does not know (a tokenizer trained for tests) is written
# as "gpt-2" instead of refused: harmless here, since the benchmarks feed token ids and never let
# llama.cpp tokenize.
_CONVERT = """
import os, runpy, sys
script, allow = sys.argv[1], sys.argv[2] == "1"
sys.argv = [script] + sys.argv[3:]
here = os.path.dirname(os.path.abspath(script))
sys.path.insert(0, here)
if "NO_LOCAL_GGUF" not in os.environ:
    sys.path.insert(1, os.path.join(here, "gguf-py"))
if allow:
    from conversion import base
    _pre = base.TextModel.get_vocab_base_pre
    def get_vocab_base_pre(self, tokenizer):
        try:
            return _pre(self, tokenizer)
        except NotImplementedError:
            return "gpt-2"
    base.TextModel.get_vocab_base_pre = get_vocab_base_pre
runpy.run_path(script, run_name="__main__")
"""


def to_gguf(hf_dir: Path, quant: str, cache_dir: Path, *, threads: int | None = None,
            allow_unknown_pretokenizer: bool = False) -> Path:
    """``hf_dir`` (transformers folder) as a GGUF file of type ``quant``; cached in ``cache_dir``.

    ``allow_unknown_pretokenizer``: write an unrecognised BPE pre-tokenizer as GPT-2's rather than
    fail (only for models that are fed token ids, e.g. tests' tiny tokenizers)."""
    quant = quant.upper()
    if quant not in QUANTS:
        raise ValueError(f"quant must be one of {QUANTS}, not {quant!r}")
    hf_dir, cache_dir = Path(hf_dir), Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = cache_dir / f"{hf_dir.name}-{folder_key(hf_dir)}-{quant}.gguf"
    if out.is_file():
        return out
    tmp = out.with_name(out.name + ".part")
    if quant == "F16":
        script = converter_path()
        if script is None:
            raise RuntimeError(why_unavailable())
        # The converter imports torch, transformers and its vendored gguf-py (the newest gguf
        # it knows), not the gguf package installed in the venv.
        env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}
        cmd = [sys.executable, "-c", _CONVERT, str(script), "1" if allow_unknown_pretokenizer else "0",
               str(hf_dir), "--outfile", str(tmp), "--outtype", "f16"]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
            raise RuntimeError(f"{script.name} failed on {hf_dir} (exit {proc.returncode}):\n{tail}")
    else:
        f16 = to_gguf(hf_dir, "F16", cache_dir, threads=threads,
                      allow_unknown_pretokenizer=allow_unknown_pretokenizer)
        quantize(f16, tmp, quant, threads=threads)
    tmp.rename(out)
    return out


def quantize(src: Path, dest: Path, quant: str, *, threads: int | None = None) -> None:
    """llama.cpp's quantizer through the ctypes API (what llama-quantize does)."""
    import llama_cpp  # noqa: PLC0415 -- optional dependency (the bench extra)

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = _FTYPES[quant]
    params.nthread = threads or os.cpu_count() or 1
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dest).encode(), ctypes.byref(params))
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize({src.name} -> {quant}) failed with {rc}")


def tensor_types(gguf: Path) -> dict[str, int]:
    """How many tensors of each GGML type the file holds (e.g. to see Q4_K_M's fallbacks)."""
    reader = _reader(gguf)
    counts: dict[str, int] = {}
    for t in reader.tensors:
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def bits_per_weight(gguf: Path) -> float:
    """Average bits per weight over all the file's tensors (llama.cpp's BPW)."""
    tensors = _reader(gguf).tensors
    return 8 * sum(int(t.n_bytes) for t in tensors) / max(1, sum(int(t.n_elements) for t in tensors))


def tensor_bytes(gguf: Path) -> dict[str, int]:
    """Bytes of every tensor in the file, by tensor name."""
    return {t.name: int(t.n_bytes) for t in _reader(gguf).tensors}


def _reader(gguf: Path):
    # gguf-py from the vendored llama.cpp when extracted (it knows the newest types), else the
    # installed gguf package.
    script = converter_path(extract=False)
    if script is not None and str(script.parent / "gguf-py") not in sys.path:
        sys.path.insert(0, str(script.parent / "gguf-py"))
    from gguf import GGUFReader  # noqa: PLC0415 -- optional dependency (the bench extra)

    return GGUFReader(str(gguf))


# -- generation -------------------------------------------------------------------------------


@dataclass
class GenResult:
    ids: list[int]
    ttft_s: float  # call -> first new token (prompt evaluation, less what was reused, + 1 sample)
    total_s: float  # call -> last new token
    prompt_tokens: int
    reused_prefix_tokens: int  # prompt tokens whose KV cache was kept from the previous call


class LlamaCpp:
    """One GGUF model, greedy decoding from token ids; the KV cache of the longest common prefix
    with the previous call is reused (llama-cpp-python's ``Llama.generate`` does this)."""

    def __init__(self, gguf: Path, n_threads: int, n_ctx: int = 4096, n_batch: int = 512) -> None:
        from llama_cpp import Llama  # noqa: PLC0415 -- optional dependency (the bench extra)

        self.gguf = Path(gguf)
        self.llm = Llama(
            model_path=str(gguf),
            n_threads=n_threads,
            n_threads_batch=n_threads,
            n_ctx=n_ctx,
            n_batch=n_batch,
            n_ubatch=n_batch,
            n_gpu_layers=0,
            logits_all=False,
            verbose=False,
        )
        self._first_eval: int | None = None
        evaluate = self.llm.eval

        def counting_eval(tokens: Sequence[int]) -> None:
            # The first eval of a call gets the prompt tokens that were not reused.
            if self._first_eval is None:
                self._first_eval = len(tokens)
            evaluate(tokens)

        self.llm.eval = counting_eval  # type: ignore[method-assign]

    def generate(self, prompt_ids: list[int], max_new_tokens: int, stop_ids: list[int]) -> GenResult:
        """Greedy: exactly ``max_new_tokens`` new tokens unless one of ``stop_ids`` comes first
        (it is included). Pass ``stop_ids=[]`` to decode a fixed count (EOS is not special here)."""
        stops = set(stop_ids)
        ids: list[int] = []
        self._first_eval = None
        ttft = 0.0
        started = time.perf_counter()
        if max_new_tokens > 0:
            gen = self.llm.generate(list(prompt_ids), top_k=1, top_p=1.0, min_p=0.0, typical_p=1.0,
                                    temp=0.0, repeat_penalty=1.0, reset=True)
            for token in gen:
                if not ids:
                    ttft = time.perf_counter() - started
                ids.append(int(token))
                if len(ids) >= max_new_tokens or token in stops:
                    break
            gen.close()
        total = time.perf_counter() - started
        evaluated = self._first_eval if self._first_eval is not None else len(prompt_ids)
        return GenResult(ids=ids, ttft_s=ttft, total_s=total, prompt_tokens=len(prompt_ids),
                         reused_prefix_tokens=max(0, len(prompt_ids) - evaluated))

    def close(self) -> None:
        self.llm.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch", help="keep the sdist of the installed llama-cpp-python (has the converter)")
    sub.add_parser("check", help="say whether llama.cpp is usable here")
    conv = sub.add_parser("convert", help="transformers folder -> GGUF (cached)")
    conv.add_argument("hf_dir", type=Path)
    conv.add_argument("--quant", default="Q4_K_M", choices=QUANTS)
    conv.add_argument("--cache", type=Path, default=DEFAULT_CACHE / "gguf")
    args = ap.parse_args(argv)
    if args.cmd == "fetch":
        print(fetch_sdist())
        print(converter_path())
    elif args.cmd == "check":
        print("available" if available() else f"unavailable: {why_unavailable()}")
        return 0 if available() else 1
    else:
        path = to_gguf(args.hf_dir, args.quant, args.cache)
        print(path, tensor_types(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
