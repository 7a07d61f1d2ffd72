"""The one table of benchmarks/gpu_suite.py, from its results dict (also saved as gpu_suite.json).

Per row: decode tok/s at each context, the bandwidth ceiling at the first context and the fraction of it reached,
the ratio to transformers at the same context, decode at the longest context over the shortest, TTFT, peak GPU
memory, whether every logit checked was finite, and the full-depth estimate. Errors and notes are footnotes, so
a failed row still says why.
"""

from __future__ import annotations

__all__ = ["render_table"]

GIB = 2**30
_ELEMENT_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}


def _fmt(value, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


class _Bytes:
    """What one decode step reads for one model: weights, plus the KV cache up to the context."""

    def __init__(self, shape: dict, weights_read: int, per_layer: int, compute: str):
        self.shape, self.weights, self.per_layer = shape, weights_read, per_layer
        self.kv_per_token = 2 * shape["layers"] * shape["kv_heads"] * shape["head_dim"] * _ELEMENT_BYTES[compute]

    def ceiling(self, bandwidth: float | None, ctx: int, full: bool = False) -> float | None:
        if not bandwidth:
            return None
        layers, full_layers = self.shape["layers"], self.shape["full_layers"]
        weights = self.weights + (full_layers - layers) * self.per_layer if full else self.weights
        kv = self.kv_per_token * (full_layers / layers if full else 1) * ctx
        return bandwidth / (weights + kv)


def _row(label: str, decode: dict, bytes_: _Bytes | None, results: dict, extra: dict) -> list[str]:
    shape = results["shape"]
    contexts = [str(c) for c in shape["contexts"]]
    first, last = contexts[0], contexts[-1]
    bandwidth = (results.get("bandwidth") or {}).get("value", {}).get("bytes_per_s")
    hf = (results.get("transformers") or {}).get("value", {}).get("decode", {})
    rate = decode.get(first)
    ceiling = bytes_.ceiling(bandwidth, int(first)) if bytes_ else None
    full = bytes_.ceiling(bandwidth, int(first), full=True) if bytes_ else None
    cells = [label] + [_fmt(decode.get(c), ".1f") for c in contexts]
    cells += [
        _fmt(ceiling, ".0f"),
        _fmt(100 * rate / ceiling if rate and ceiling else None, ".0f"),
        _fmt(rate / hf[first] if rate and hf.get(first) else None, ".2f"),
        _fmt(decode[last] / rate if rate and decode.get(last) else None, ".2f"),
        _fmt(extra.get("ttft_ms"), ".1f"),
        _fmt(extra["peak"] / GIB if extra.get("peak") is not None else None, ".1f"),
        {True: "yes", False: "NO", None: "-"}[extra.get("finite")],
        _fmt(rate * full / ceiling if rate and full and ceiling else None, ".0f"),
    ]
    return cells


def _layout(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return [line(header), "-+-".join("-" * w for w in widths), *(line(r) for r in rows)]


def _header(results: dict) -> list[str]:
    s = results["shape"]
    bw = (results.get("bandwidth") or {}).get("value", {})
    hf = (results.get("transformers") or {}).get("value", {})
    engines = [v["engine"]["value"] for v in results["variants"].values() if v.get("engine", {}).get("ok")]
    ort = f"onnxruntime {engines[0]['ort']} on {engines[0]['provider']}" if engines else "onnxruntime: no engine ran"
    depth = "all" if s["layers"] == s["full_layers"] else f"{s['layers']} of {s['full_layers']}"
    card = bw.get("device") or results.get("gpu")
    speed = (
        f"copy bandwidth {bw['bytes_per_s'] / 1e9:.0f} GB/s (read + write)" if bw else "copy bandwidth not measured"
    )
    return [
        f"glm-nb GPU suite · {card} · {speed} · NVML: {results.get('gpu')}",
        f"shape: hidden {s['hidden']}, {s['heads']} heads, {s['kv_heads']} KV heads, head_dim {s['head_dim']}, MLP "
        f"{s['intermediate']}, vocab {s['vocab']}; {depth} layers; random bf16 weights",
        f"{ort} · transformers {hf.get('transformers', '-')} (sdpa generate) · torch {bw.get('torch', '-')}",
        f"decode: greedy, tok/s = 1 / median of {s['decode_tokens']} steps after {s['warmup']} warm-up steps; "
        f"TTFT: {s['ttft_prompt']}-token prompt, median of 3",
    ]


def render_table(results: dict) -> str:
    s = results["shape"]
    contexts = [str(c) for c in s["contexts"]]
    header = ["config", *(f"tok/s@{c}" for c in contexts), f"ceiling@{contexts[0]}", "% ceil", "x HF",
              f"{contexts[-1]}/{contexts[0]}", "TTFT ms", "peak GiB", "finite", f"{s['full_layers']}L est"]  # fmt: skip
    rows, notes = [], []

    def note(text: str) -> str:
        notes.append(text)
        return f" [{len(notes)}]"

    hf = results.get("transformers") or {}
    hf_bytes = results.get("transformers_bytes")
    hf_label = "transformers generate (sdpa)"
    if hf.get("ok"):
        v = hf["value"]
        bytes_ = _Bytes(s, hf_bytes["weights_read"], hf_bytes["per_layer"], hf_bytes["dtype"]) if hf_bytes else None
        rows.append(_row(hf_label, v["decode"], bytes_, results, {"ttft_ms": v["ttft_ms"], "peak": hf["peak_bytes"]}))
        if v.get("forward"):  # the model's forward in a loop: transformers without generate()'s own overhead
            rows.append(_row("transformers forward loop (sdpa)", v["forward"], bytes_, results, {}))
    elif hf:
        rows.append([hf_label + note(f"transformers: {hf['error']}")] + ["-"] * (len(header) - 1))

    for label, entry in results["variants"].items():
        conversion, engine = entry["convert"], entry.get("engine")
        if not conversion["ok"] or not engine or not engine["ok"]:
            why = conversion["error"] if not conversion["ok"] else (engine or {}).get("error", "not run")
            rows.append([label + note(f"{label}: {why}")] + ["-"] * (len(header) - 1))
            continue
        e, c = engine["value"], conversion["value"]
        bytes_ = _Bytes(s, c["weights_read"], c["per_layer"], entry["compute"])
        notes_for_variant = f"{label}: converted in {c['seconds']:.0f} s, session loaded in {e['load_s']:.0f} s"
        first = note(notes_for_variant + (f"; {e['note']}" if e.get("note") else ""))
        if e.get("ttft_error"):
            first += note(f"{label} TTFT: {e['ttft_error']}")
        for i, r in enumerate(e["rows"]):
            name = f"{label} · {r['mode']}" + (first if i == 0 else "")
            if "top_k_share" in r:
                name += f" ({r['top_k_share']:.0%} of draws from the top-k)"
            if r.get("error"):
                name += note(f"{label} · {r['mode']}: {r['error']}")
            extra = {"ttft_ms": e.get("ttft_ms"), "peak": engine["peak_bytes"], "finite": r.get("finite")}
            rows.append(_row(name, r["decode"], bytes_, results, extra))

    lines = [*_header(results), "", *_layout(header, rows)]
    if s["layers"] != s["full_layers"]:
        lines.append(f"{s['full_layers']}L est: the full model's ceiling times the fraction of the ceiling measured")
    lines += [f"[{i}] {text}" for i, text in enumerate(notes, 1)]
    return "\n".join(lines)
