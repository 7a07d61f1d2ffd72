"""The GLM-4-0414 decoder as an ONNX graph of ONNX Runtime contrib ops, built weight by weight.

One layer (FORMAT.md, "One decoder layer"), x the residual stream [B, S, H]:
    h = input_layernorm(x)                       SkipSimplifiedLayerNormalization (also yields x = x + prev)
    qkv = h @ Wqkv + bqkv                        one packed MatMul: [B, S, (Nh + 2 Nkv) D]
    a, present_k, present_v = GroupQueryAttention(qkv, past_k, past_v, seqlens_k, total_len, cos, sin)
                                                 interleaved partial rotary inside the kernel, or
                                                 com.microsoft.RotaryEmbedding first when rot/2 % 8 != 0
    a = post_self_attn_layernorm(a @ Wo)         SimplifiedLayerNormalization (fp16 / bf16: Skip norm, zero skip)
    h = post_attention_layernorm(x + a)          SkipSimplifiedLayerNormalization
    m = post_mlp_layernorm(down(silu(gate) * up))   gate, up = split(h @ Wgate_up)
The final `model.norm` is one more Skip norm; `lm_head` runs only on the rows picked by `logits_index` [B, K]
(the last real token of each row during prefill and decode, every position when scoring). With
`top_k_output=k` a TopK tail also outputs the k largest logits of each of those rows (topk_values, topk_ids) and
each row's exp-sum (logits_expsum).

KV cache inputs/outputs are [B, Nkv, max_len, D]; the generator binds one buffer per layer as both past and
present, and GroupQueryAttention writes the new rows in place (its shared-buffer mode).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import TensorProto

from ..models import Checkpoint, Glm4Spec
from .onnx_writer import ONNX_DTYPES, GraphWriter, to_bf16_bits
from .quantize import quantize_int4
from .rope import cos_sin_cache

__all__ = ["GraphOptions", "build_glm4_graph", "uses_gqa_rotary"]

MS = "com.microsoft"
_CHUNK_BYTES = 64 << 20  # the embedding and lm_head (150k x 4096 for GLM-4-9B) are streamed in chunks this size


@dataclass(frozen=True)
class GraphOptions:
    precision: str = "fp32"  # fp32 | fp16 | bf16 | int4
    max_length: int = 4096  # rows of the rotary caches = longest sequence the graph can run
    int4_block_size: int = 32
    int4_lm_head: bool = True
    int4_compute: str = "fp32"  # activation dtype of an int4 graph: fp32 on CPU, fp16 / bf16 on CUDA
    int4_accuracy_level: int = 4  # MatMulNBits accuracy_level: 0 = activations as they are, 4 = int8 on CPU
    top_k_output: int = 0  # k > 0: also output the k largest logits per row (sampling on the device)
    int4_symmetric: bool = False  # no zero points (quantize.py): what ORT's compact fpA_intB CUDA kernels take

    @property
    def compute(self) -> str:
        return self.int4_compute if self.precision == "int4" else self.precision


def uses_gqa_rotary(spec: Glm4Spec) -> bool:
    """GroupQueryAttention infers partial rotary from the cache width, which must be a multiple of 8."""
    half = spec.rotary_dim // 2
    return half % 8 == 0 and spec.rotary_dim <= spec.head_dim


class _Glm4GraphBuilder:
    def __init__(self, ckpt: Checkpoint, writer: GraphWriter, options: GraphOptions):
        self.ckpt, self.spec, self.w, self.opt = ckpt, ckpt.spec, writer, options
        self.dtype = ONNX_DTYPES[options.compute]
        self.zeros: str | None = None  # set in build() for fp16 / bf16 graphs

    # -- weights ------------------------------------------------------------------------------------------------
    def _cast(self, array: np.ndarray) -> np.ndarray:
        """float32 -> the storage of the compute dtype (bf16 as uint16 bit patterns)."""
        array = np.asarray(array, dtype=np.float32)
        if self.opt.compute == "bf16":
            return to_bf16_bits(array)
        return array.astype(np.float16) if self.opt.compute == "fp16" else array

    def _float(self, name: str, array: np.ndarray) -> str:
        return self.w.weight(name, self._cast(array), self.dtype)

    def _float_streamed(self, name: str, lazy, transpose: bool) -> str:
        """A huge [R, C] weight written in chunks: as it is (embedding), or transposed to [C, R] (lm_head)."""
        rows, cols = lazy.shape
        step = max(1, _CHUNK_BYTES // (4 * cols))
        if transpose:  # rows r..r+step of the source are columns of the output
            blocks = ((r, self._cast(lazy[r : r + step].T)) for r in range(0, rows, step))
            return self.w.weight_stream_columns(name, (cols, rows), self.dtype, blocks)
        chunks = (self._cast(lazy[r : r + step]) for r in range(0, rows, step))
        return self.w.weight_stream(name, (rows, cols), self.dtype, chunks)

    def _int4_streamed(self, x: str, lazy, name: str) -> str:
        """MatMulNBits for a huge [N, K] weight, quantized in row chunks (blocks run along K, rows independent)."""
        n, k = lazy.shape
        step = max(1, _CHUNK_BYTES // (4 * k))
        scales, zeros = [], []

        def packed_chunks():
            for r in range(0, n, step):
                q = quantize_int4(lazy[r : r + step], self.opt.int4_block_size, self.opt.int4_symmetric)
                scales.append(q.scales)
                zeros.append(q.zero_points)
                yield q.packed

        k_blocks = -(-k // self.opt.int4_block_size)
        packed = self.w.weight_stream(
            f"{name}.qweight", (n, k_blocks, self.opt.int4_block_size // 2), TensorProto.UINT8, packed_chunks()
        )
        zero_points = None if self.opt.int4_symmetric else np.concatenate(zeros)
        return self._matmul_nbits(x, name, packed, np.concatenate(scales), zero_points, n, k)

    def _matmul_nbits(self, x: str, name: str, packed: str, scales, zeros, n: int, k: int) -> str:
        inputs = [x, packed, self._float(f"{name}.scales", scales)]
        if zeros is not None:
            inputs.append(self.w.weight(f"{name}.qzeros", zeros))
        attrs = dict(
            K=k, N=n, bits=4, block_size=self.opt.int4_block_size, accuracy_level=self.opt.int4_accuracy_level
        )
        return self.w.node("MatMulNBits", inputs, name=name, domain=MS, **attrs)[0]

    def _linear(self, x: str, weight: np.ndarray, name: str, quantize: bool = True) -> str:
        """x @ weight.T for an HF weight [N, K]: MatMul on a pre-transposed copy, or MatMulNBits in int4."""
        n, k = weight.shape
        if self.opt.precision == "int4" and quantize:
            q = quantize_int4(weight, self.opt.int4_block_size, self.opt.int4_symmetric)
            return self._matmul_nbits(
                x, name, self.w.weight(f"{name}.qweight", q.packed), q.scales, q.zero_points, n, k
            )
        w_t = self._float(f"{name}.weight_t", np.ascontiguousarray(np.asarray(weight, dtype=np.float32).T))
        return self.w.node("MatMul", [x, w_t], name=name)[0]

    def _norm(self, x: str, weight_name: str, name: str) -> str:
        """RMSNorm without a residual. In fp16 / bf16 graphs (CUDA) it runs as the Skip norm with a zero skip: on an
        H200 ONNX Runtime's SimplifiedLayerNormalization kernel took 7.3 µs for one 4096-wide row, its
        SkipSimplifiedLayerNormalization 2.2 µs, and GLM-4 has two such norms per layer (benchmarks/gpu_profile.py)."""
        gamma = self._float(weight_name, self.ckpt.tensor(weight_name))
        if self.zeros is not None:
            return self.w.node(
                "SkipSimplifiedLayerNormalization", [x, self.zeros, gamma], name=name, domain=MS,
                epsilon=self.spec.rms_norm_eps,
            )[0]  # fmt: skip
        return self.w.node(
            "SimplifiedLayerNormalization", [x, gamma], name=name, axis=-1,
            epsilon=self.spec.rms_norm_eps, stash_type=1,
        )[0]  # fmt: skip

    def _skip_norm(self, x: str, residual: str, weight_name: str, name: str) -> tuple[str, str]:
        """(norm(x + residual), x + residual)."""
        gamma = self._float(weight_name, self.ckpt.tensor(weight_name))
        out = self.w.node(
            "SkipSimplifiedLayerNormalization", [x, residual, gamma], n_out=4, name=name, domain=MS,
            epsilon=self.spec.rms_norm_eps,
        )  # fmt: skip
        return out[0], out[3]

    # -- graph --------------------------------------------------------------------------------------------------
    def build(self, progress) -> None:
        s, w = self.spec, self.w
        w.input("input_ids", TensorProto.INT64, ["batch", "seq"])
        w.input("seqlens_k", TensorProto.INT32, ["batch"])
        w.input("total_sequence_length", TensorProto.INT32, [])
        w.input("logits_index", TensorProto.INT64, ["batch", "num_logits"])
        if not uses_gqa_rotary(s):
            w.input("position_ids", TensorProto.INT64, ["batch", "seq"])
        cos, sin = cos_sin_cache(s, self.opt.max_length)
        self.cos, self.sin = self._float("rotary.cos_cache", cos), self._float("rotary.sin_cache", sin)

        embed = self._float_streamed("model.embed_tokens.weight", self.ckpt.lazy("model.embed_tokens.weight"), False)
        x = w.node("Gather", [embed, "input_ids"], name="embed_tokens")[0]  # [B, S, H]
        # The zero skip of the plain norms (see _norm): one [B, S, H] tensor a step, shared by every layer.
        self.zeros = w.node("Sub", [x, x], name="zeros")[0] if self.opt.compute != "fp32" else None
        progress(1)
        h = self._norm(x, "model.layers.0.input_layernorm.weight", "layers.0.input_layernorm")
        for i in range(s.num_layers):
            h, x = self._layer(i, h, x)
            progress(1)
        self._lm_head(h)
        progress(1)

    def _layer(self, i: int, h: str, x: str) -> tuple[str, str]:
        """One decoder layer. h: this layer's normed input, x: residual. Returns the next layer's (h, x)."""
        s, w, p = self.spec, self.w, f"model.layers.{i}"
        attn = self._attention(i, h)
        a = self._norm(attn, f"{p}.post_self_attn_layernorm.weight", f"layers.{i}.post_self_attn_layernorm")
        h, x = self._skip_norm(a, x, f"{p}.post_attention_layernorm.weight", f"layers.{i}.post_attention_layernorm")

        gate_up = self._linear(h, self.ckpt.tensor(f"{p}.mlp.gate_up_proj.weight"), f"layers.{i}.mlp.gate_up_proj")
        split = w.constant(f"layers.{i}.mlp.split_sizes", [s.intermediate_size, s.intermediate_size])
        gate, up = w.node("Split", [gate_up, split], n_out=2, name=f"layers.{i}.mlp.split", axis=-1)
        sig = w.node("Sigmoid", [gate], name=f"layers.{i}.mlp.sigmoid")[0]
        silu = w.node("Mul", [gate, sig], name=f"layers.{i}.mlp.silu")[0]
        act = w.node("Mul", [silu, up], name=f"layers.{i}.mlp.act")[0]
        down = self._linear(act, self.ckpt.tensor(f"{p}.mlp.down_proj.weight"), f"layers.{i}.mlp.down_proj")
        m = self._norm(down, f"{p}.post_mlp_layernorm.weight", f"layers.{i}.post_mlp_layernorm")

        if i + 1 < s.num_layers:
            nxt = f"model.layers.{i + 1}.input_layernorm.weight"
            return self._skip_norm(m, x, nxt, f"layers.{i + 1}.input_layernorm")
        return self._skip_norm(m, x, "model.norm.weight", "model.norm")

    def _attention(self, i: int, h: str) -> str:
        s, w, p = self.spec, self.w, f"model.layers.{i}.self_attn"
        q_size, kv_size = s.num_heads * s.head_dim, s.num_kv_heads * s.head_dim
        wqkv = np.concatenate([self.ckpt.tensor(f"{p}.{n}_proj.weight") for n in "qkv"], axis=0)
        qkv = self._linear(h, wqkv, f"layers.{i}.attn.qkv_proj")  # [B, S, (Nh + 2 Nkv) D]
        del wqkv
        if s.attention_bias:
            bias = np.concatenate([self.ckpt.tensor(f"{p}.{n}_proj.bias") for n in "qkv"])
            qkv = w.node("Add", [qkv, self._float(f"{p}.qkv_proj.bias", bias)], name=f"layers.{i}.attn.qkv_bias")[0]

        kv_shape = ["batch", s.num_kv_heads, "max_length", s.head_dim]
        past_k = w.input(f"past_key_values.{i}.key", self.dtype, kv_shape)
        past_v = w.input(f"past_key_values.{i}.value", self.dtype, kv_shape)
        common = dict(num_heads=s.num_heads, kv_num_heads=s.num_kv_heads, scale=float(s.head_dim**-0.5))
        if uses_gqa_rotary(s):
            inputs = [qkv, "", "", past_k, past_v, "seqlens_k", "total_sequence_length", self.cos, self.sin]
            rotary = dict(do_rotary=1, rotary_interleaved=1)
        else:
            sizes = w.constant(f"layers.{i}.attn.split_sizes", [q_size, kv_size, kv_size])
            q, k, v = w.node("Split", [qkv, sizes], n_out=3, name=f"layers.{i}.attn.split", axis=-1)
            rot = dict(interleaved=1, rotary_embedding_dim=s.rotary_dim)
            q = w.node("RotaryEmbedding", [q, "position_ids", self.cos, self.sin], name=f"layers.{i}.attn.rotary_q",
                       domain=MS, num_heads=s.num_heads, **rot)[0]  # fmt: skip
            k = w.node("RotaryEmbedding", [k, "position_ids", self.cos, self.sin], name=f"layers.{i}.attn.rotary_k",
                       domain=MS, num_heads=s.num_kv_heads, **rot)[0]  # fmt: skip
            inputs = [q, k, v, past_k, past_v, "seqlens_k", "total_sequence_length"]
            rotary = dict(do_rotary=0)
        out, present_k, present_v = w.node(
            "GroupQueryAttention", inputs, n_out=3, name=f"layers.{i}.attn.gqa", domain=MS, **common, **rotary
        )
        for produced, final in ((present_k, f"present.{i}.key"), (present_v, f"present.{i}.value")):
            w.rename_output(produced, final)
            w.output(final, self.dtype, kv_shape)
        return self._linear(out, self.ckpt.tensor(f"{p}.o_proj.weight"), f"layers.{i}.attn.o_proj")

    def _lm_head(self, h: str) -> None:
        s, w = self.spec, self.w
        axes = w.constant("logits_index.axes", [-1])
        index = w.node("Unsqueeze", ["logits_index", axes], name="logits_index.3d")[0]
        rows = w.node("GatherND", [h, index], name="logits_rows", batch_dims=1)[0]  # [B, K, H]
        name = "model.embed_tokens.weight" if s.tie_word_embeddings else "lm_head.weight"
        weight = self.ckpt.lazy(name)  # [V, H]
        if self.opt.precision == "int4" and self.opt.int4_lm_head:
            logits = self._int4_streamed(rows, weight, "lm_head")
        else:
            weight_t = self._float_streamed("lm_head.weight_t", weight, True)
            logits = w.node("MatMul", [rows, weight_t], name="lm_head")[0]
        if self.opt.compute != "fp32":
            logits = w.node("Cast", [logits], name="logits_fp32", to=TensorProto.FLOAT)[0]
        w.rename_output(logits, "logits")
        w.output("logits", TensorProto.FLOAT, ["batch", "num_logits", s.vocab_size])
        if self.opt.top_k_output:
            self._top_k(self.opt.top_k_output)

    def _top_k(self, k: int) -> None:
        """topk_values [B, K, k] float32 and topk_ids [B, K, k] int64: sorted, ties to the lower id (ONNX TopK),
        so a decode step can copy 2k numbers per row to the host instead of the whole vocabulary row; and
        logits_expsum [B, K, 1] float32, each row's sum of exp(logit - its largest), which bounds the weight of the
        tokens outside the k for top-p (topk_sampling.py)."""
        w = self.w
        values, ids = w.node("TopK", ["logits", w.constant("top_k.k", [k])], n_out=2, name="top_k", axis=-1)
        outputs = ((values, "topk_values", TensorProto.FLOAT), (ids, "topk_ids", TensorProto.INT64))
        for produced, final, dtype in outputs:
            w.rename_output(produced, final)
            w.output(final, dtype, ["batch", "num_logits", k])
        last, start, end = (w.constant(f"expsum.{n}", [v]) for n, v in (("axes", -1), ("start", 0), ("end", 1)))
        largest = w.node("Slice", ["topk_values", start, end, last], name="expsum.largest")[0]  # the row's max
        shifted = w.node("Sub", ["logits", largest], name="expsum.shift")[0]
        weights = w.node("Exp", [shifted], name="expsum.exp")[0]
        total = w.node("ReduceSum", [weights, last], name="expsum.sum", keepdims=1)[0]
        w.rename_output(total, "logits_expsum")
        w.output("logits_expsum", TensorProto.FLOAT, ["batch", "num_logits", 1])


def build_glm4_graph(ckpt: Checkpoint, writer: GraphWriter, options: GraphOptions, progress=lambda n: None) -> None:
    """Add the whole GLM-4 graph for `ckpt` to `writer`; `progress(n)` is called as steps complete
    (num_layers + 2 steps: embedding, each layer, lm_head)."""
    _Glm4GraphBuilder(ckpt, writer, options).build(progress)
