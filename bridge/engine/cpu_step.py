"""The fast decoder's one-token step as a single C call, for bf16 weights on x86 CPUs: with
AVX512-BF16 products (``csrc/decoder_step_bf16.c``; AMX tiles for 3-16 rows where the CPU has
them), or, on CPUs without AVX512-BF16, reading the bf16 weights and computing in fp32 with
AVX2+FMA or AVX-512F (``csrc/decoder_step_f32.c``). :mod:`.cpu_kernels` builds them and picks
the instruction set (``MUSICGEN_BRIDGE_CPU_ISA`` forces a lower one).

The eager step (:meth:`.runner.DecoderRunner.step`) calls the bf16 product kernel once per
weight matrix and torch for everything between: about 500 small operations a step, each with
Python and dispatch costs, whose data the weight stream has evicted from the caches. This step
runs the same computation (same weights, same static KV cache, same rounding points) in one
OpenMP region: embeddings, every layer, the final norm and the codebook heads.

Used when all of these hold (else the eager step runs): a C step for this CPU is available (see
:mod:`.cpu_kernels`; ``MUSICGEN_BRIDGE_CPU_KERNEL=0`` turns the kernels off), at most
:data:`~.cpu_kernels.MAX_ROWS` rows, exact (erf) GELU, layer norms with weight and bias and one epsilon,
widths the kernel takes (hidden and feed-forward sizes multiples of 32, vocabulary a multiple of
16, head size a multiple of 16 up to 256), and ``MUSICGEN_BRIDGE_CPU_STEP`` not set to ``0``.

With ``--cpu-int8`` (the runner's ``cpu_int8``; :mod:`.int8_switch` decides) its products read
int8 copies of the weight matrices (:func:`int8_weights`) instead of the bf16 ones. Without it,
on CPUs with AVX512-BF16 but not Intel's (:func:`.cpu_kernels.packed_layout`), they read packed
bf16 copies (:func:`packed_weights`; ``csrc/bf16_packed.h``), made once when the model loads.
"""

from __future__ import annotations

import ctypes
import logging
import os

from . import cpu_kernels, int8_switch

log = logging.getLogger("bridge.engine")

#: Set to "0" to keep the eager step (per-matrix kernel calls) on bf16 CPUs.
ENV = "MUSICGEN_BRIDGE_CPU_STEP"

_DIMS = 12          # decoder_step_layout(0)
_PER_LAYER = 18     # decoder_step_layout(1)


def _unsupported(runner) -> str | None:
    """Why the C step cannot run this runner's decoder, or None when it can."""
    if runner.rows > cpu_kernels.MAX_ROWS:
        return f"{runner.rows} rows (at most {cpu_kernels.MAX_ROWS})"
    return _unsupported_weights(runner.weights)


def _unsupported_weights(w) -> str | None:
    """Why the C step cannot run a decoder with these weights, or None when it can."""
    import torch
    import torch.nn.functional as F

    if w.device.type != "cpu" or w.dtype != torch.bfloat16:
        return "not bf16 on the CPU"
    ffn = w.layers[0]["fc1"].shape[0]
    vocab = w.heads_w[0].shape[0]
    if w.hidden % 32 or ffn % 32 or vocab % 16 or w.head_dim % 16 or w.head_dim > 256:
        return "widths the kernel does not take"
    if w.positions.dtype != torch.bfloat16 or any(e.dtype != torch.bfloat16 for e in w.embed_tokens):
        return "embeddings not in bf16"
    norms = [w.final_norm] + [layer[n] for layer in w.layers for n in ("ln1", "ln2", "ln3") if n in layer]
    if any(n.weight is None or n.bias is None or n.eps != norms[0].eps or n.weight.dtype != torch.bfloat16
           or n.bias.dtype != torch.bfloat16 for n in norms):
        return "layer norms without affine parameters or with differing epsilons"
    if any(layer["act_fn"] is not F.gelu for layer in w.layers):
        return "an activation other than exact GELU"
    return None


class CpuStep:
    """``step(tokens (rows, codebooks), position) -> fp32 logits (rows * codebooks, vocab)``,
    the same contract as :meth:`.runner.DecoderRunner.step`."""

    def __init__(self, runner, lib, name: str = "decoder_step_bf16", isa: str = "avx512bf16"):
        import torch

        self.runner = runner
        self.lib = lib
        self.fn = getattr(lib, name)
        #: The instruction set this step runs with (:data:`.cpu_kernels.ISAS`).
        self.isa = isa
        w = runner.weights
        cache = runner.cache
        if lib.decoder_step_layout(0) != _DIMS or lib.decoder_step_layout(1) != _PER_LAYER:
            raise RuntimeError("decoder_step_bf16 layout does not match cpu_step.py")
        cross = w.has_cross and runner.cond.cross_states is not None
        # Cross keys/values are transposed views; the C step reads (rows, heads, len, head_dim) rows.
        cross_keys = [t.contiguous() for t in cache.cross_keys] if cross else []
        cross_values = [t.contiguous() for t in cache.cross_values] if cross else []
        cross_len = int(cross_keys[0].shape[2]) if cross else 0
        mask = runner.cond.cross_mask.reshape(runner.rows, cross_len).to(torch.uint8).contiguous() if cross else None
        self._keep = cross_keys + cross_values + [mask]  # the C step reads these copies
        ffn = w.layers[0]["fc1"].shape[0]
        self.vocab = int(w.heads_w[0].shape[0])
        self.codebooks = len(w.embed_tokens)
        self.table_rows = min(int(e.shape[0]) for e in w.embed_tokens)
        dims = [len(w.layers), runner.rows, w.hidden, w.heads, w.head_dim, ffn, self.vocab, self.codebooks,
                1 if cross else 0, cache.max_positions, cross_len, torch.get_num_threads()]
        self.dims = (ctypes.c_int * _DIMS)(*dims)
        self.fdims = (ctypes.c_float * 2)(float(w.scaling), float(w.final_norm.eps))

        def ptr(t):
            if t is None:
                return None
            if not t.is_contiguous():
                raise RuntimeError("the C step needs contiguous tensors")
            return t.data_ptr()

        packed = None
        if isa.endswith("-int8"):  # products read int8 copies: scales then rows (csrc/fp32_vec.h)
            packed = int8_weights(w)
        elif isa.endswith("-packed"):  # products read packed bf16 copies (csrc/bf16_packed.h)
            if not packs(w):
                raise RuntimeError("widths the packed step does not take")
            packed = packed_weights(w)
        if packed is not None:
            self._keep.append(packed)

            def ptr(t, _plain=ptr):  # noqa: F811 - the weight matrices' int8 or packed copies
                return packed[id(t)].data_ptr() if t is not None and id(t) in packed else _plain(t)

        ptrs = [ptr(e) for e in w.embed_tokens] + [ptr(w.positions), ptr(w.final_norm.weight),
                                                    ptr(w.final_norm.bias)]
        ptrs += [ptr(h) for h in w.heads_w] + [ptr(mask)]
        for i, layer in enumerate(w.layers):
            ln2 = layer.get("ln2")
            ptrs += [ptr(layer["ln1"].weight), ptr(layer["ln1"].bias), ptr(layer["q"]), ptr(layer["k"]),
                     ptr(layer["v"]), ptr(layer["o"]),
                     ptr(ln2.weight) if cross else None, ptr(ln2.bias) if cross else None,
                     ptr(layer["cq"]) if cross else None, ptr(layer["co"]) if cross else None,
                     ptr(layer["ln3"].weight), ptr(layer["ln3"].bias), ptr(layer["fc1"]), ptr(layer["fc2"]),
                     ptr(cache.keys[i]), ptr(cache.values[i]),
                     ptr(cross_keys[i]) if cross else None, ptr(cross_values[i]) if cross else None]
        self.ptrs = (ctypes.c_void_p * len(ptrs))(*ptrs)

    def __call__(self, tokens, position: int):
        import torch

        runner = self.runner
        pos = runner.prefix_len + position
        if pos >= runner.cache.max_positions:
            raise ValueError(f"KV cache holds {runner.cache.max_positions} positions; asked for {pos + 1}")
        if tuple(tokens.shape) != (runner.rows, self.codebooks):
            raise ValueError(f"the step takes codes ({runner.rows}, {self.codebooks}); got {tuple(tokens.shape)}")
        tokens = tokens.to(torch.int64).contiguous()
        if bool(((tokens < 0) | (tokens >= self.table_rows)).any()):  # C reads the tables unchecked
            raise ValueError(f"codes must be in 0..{self.table_rows - 1}")
        logits = torch.empty((runner.rows, self.codebooks, self.vocab), dtype=torch.float32)
        if self.fn(self.dims, self.fdims, self.ptrs, tokens.data_ptr(), pos,
                                      logits.data_ptr()) != 0:
            raise MemoryError("the decoder step could not allocate its scratch memory")
        runner.cache.length = pos + 1
        return logits.view(-1, self.vocab)


def _step_matrices(weights) -> list:
    """The weight matrices one step reads (attention, cross attention, feed-forward, heads)."""
    names = ("q", "k", "v", "o", "cq", "co", "fc1", "fc2")
    return [layer[n] for layer in weights.layers for n in names if n in layer] + list(weights.heads_w)


#: Weight rows per packed group and values per line of the int8 copies (``csrc/int8_matvec.h``).
INT8_GROUP_ROWS = 4
INT8_LINE = 64


def quantize_int8(w):
    """``w`` (N, K; N a multiple of 4) as one uint8 buffer: N fp32 scales (symmetric, per
    output row: the row's largest magnitude over 127), then the int8 values ``round(w /
    scale)`` packed as ``csrc/int8_matvec.h`` reads them: rows in groups of 4, each group line
    by line (64 values of each of its 4 rows in turn), rows zero-padded to a multiple of 64."""
    import torch

    n, k = w.shape
    wf = w.float()
    scale = (wf.abs().amax(dim=1) / 127.0).clamp(min=1e-12)
    q = torch.round(wf / scale[:, None]).clamp(-127, 127).to(torch.int8)
    kp = -(-k // INT8_LINE) * INT8_LINE
    padded = torch.zeros((n, kp), dtype=torch.int8)
    padded[:, :k] = q
    packed = padded.reshape(n // INT8_GROUP_ROWS, INT8_GROUP_ROWS, kp // INT8_LINE, INT8_LINE).permute(0, 2, 1, 3)
    return torch.cat([scale.contiguous().view(torch.uint8), packed.contiguous().reshape(-1).view(torch.uint8)])


def int8_weights(weights) -> dict:
    """``{id(matrix): int8 buffer}`` for every weight matrix one step reads (attention, cross
    attention, feed-forward, codebook heads), computed once per weights object and kept on it
    (the bf16 weights stay: the prefill and the eager step use them)."""
    cached = getattr(weights, "_int8", None)
    if cached is None:
        cached = {id(m): quantize_int8(m) for m in _step_matrices(weights)}
        weights._int8 = cached
    return cached


#: Weight rows per block and most columns per segment of the packed bf16 copies
#: (``PACK_ROWS`` and ``PACK_SEGMENT_MAX`` in ``csrc/bf16_packed.h``).
PACK_ROWS = 32
PACK_SEGMENT_MAX = 1024


def pack_segment(k: int) -> int:
    """Columns per segment of a packed copy of ``k`` columns (``pack_segment`` in
    ``csrc/bf16_packed.h``): the largest divisor of ``k`` that is a multiple of 32 and at most
    :data:`PACK_SEGMENT_MAX`, counted in equal parts."""
    parts = -(-k // PACK_SEGMENT_MAX)
    while k % parts or (k // parts) % 32:
        parts += 1
    return k // parts


def pack_bf16(w):
    """``w`` (N, K bf16; N a multiple of :data:`PACK_ROWS`, K of 32) as ``csrc/bf16_packed.h``
    reads it: blocks of 32 rows, each cut into segments of :func:`pack_segment` columns, each
    segment the block's 16 pairs of rows in turn, each pair line by line (32 values of its first
    row, then the same 32 of its second). A new contiguous tensor of the same size."""
    n, k = w.shape
    s = pack_segment(k)
    # (block, pair, row of the pair, segment, line, value) -> (block, segment, pair, line, row, value)
    view = w.reshape(n // PACK_ROWS, PACK_ROWS // 2, 2, k // s, s // 32, 32)
    return view.permute(0, 3, 1, 4, 2, 5).contiguous().reshape(n, k)


def packs(weights) -> bool:
    """Whether every weight matrix the step reads can be packed (rows a multiple of 32)."""
    return all(m.shape[0] % PACK_ROWS == 0 and m.shape[1] % 32 == 0 for m in _step_matrices(weights))


def packed_weights(weights) -> dict:
    """``{id(matrix): packed bf16 copy}`` (:func:`pack_bf16`) for every weight matrix one step
    reads, made once per weights object and kept on it (the plain weights stay: the prefill and
    the eager step read them)."""
    cached = getattr(weights, "_packed", None)
    if cached is None:
        cached = {id(m): pack_bf16(m) for m in _step_matrices(weights)}
        weights._packed = cached
    return cached


def prepare_copies(weights, cpu_int8: bool = False) -> None:
    """Make now (at load) the copies of ``weights`` the C step will read: int8 ones
    (:func:`int8_weights`) when the engine's int8 switch ``cpu_int8`` (or
    ``MUSICGEN_BRIDGE_INT8``) asks for them and the int8 step builds, else packed bf16 ones
    (:func:`packed_weights`) where the step reads them; so that their memory is taken before any
    admission measures what is free, and the first clip is not slowed."""
    import torch

    if weights.device.type != "cpu" or weights.dtype != torch.bfloat16 or _unsupported_weights(weights) is not None:
        return
    if int8_switch.resolve(cpu_int8, os.environ.get(int8_switch.ENV))[0]:
        if os.environ.get(ENV, "1") != "0" and cpu_kernels.step_kernel(int8=True) is not None:
            int8_weights(weights)
        return
    if reads_packed_copies(cpu_int8) and packs(weights):
        packed_weights(weights)


def reads_packed_copies(cpu_int8: bool = False) -> bool:
    """Whether this machine's C step reads packed copies of bf16 weights (:func:`packed_weights`):
    an AVX512-BF16 CPU where :func:`.cpu_kernels.packed_layout` says so, the step not turned off,
    and the int8 step not asked for (``cpu_int8``, or ``MUSICGEN_BRIDGE_INT8``)."""
    if os.environ.get(ENV, "1") == "0" or int8_switch.resolve(cpu_int8, os.environ.get(int8_switch.ENV))[0]:
        return False
    found = cpu_kernels.step_kernel()
    return found is not None and found[2].endswith("-packed")


def cpu_step_for(runner) -> CpuStep | None:
    """The C step for ``runner``, or None where it does not apply (the eager step runs).

    It reads int8 copies of the weights when ``runner.cpu_int8`` (the engine's ``--cpu-int8`` or
    ``cpu_int8`` config key, :mod:`.int8_switch`) asks for them, unless ``MUSICGEN_BRIDGE_INT8``
    is set to 1 or 0, which wins; the bf16 step runs should the int8 one not build."""
    if os.environ.get(ENV, "1") == "0" or runner.weights.device.type != "cpu":
        return None  # (a CUDA or MPS model never builds the CPU kernels)
    int8 = int8_switch.resolve(getattr(runner, "cpu_int8", False), os.environ.get(int8_switch.ENV))[0]
    found = (int8 and cpu_kernels.step_kernel(int8=True)) or \
        (packs(runner.weights) and cpu_kernels.step_kernel()) or cpu_kernels.step_kernel(packed=False)
    if found is None:
        return None
    why = _unsupported(runner)
    if why is not None:
        log.debug("fast decoder: C step not used (%s)", why)
        return None
    try:
        return CpuStep(runner, *found)
    except RuntimeError as exc:
        log.debug("fast decoder: C step not used (%s)", exc)
        return None
