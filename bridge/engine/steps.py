"""The one-token decoding step, and which one runs when (:func:`step_for`).

Every step has one contract: ``step(tokens (rows, codebooks), position) -> fp32 logits (rows *
codebooks, codes)``, ``position`` counting decoder tokens (a melody prefix not included). Four
steps fulfil it; of the first three, the first that applies runs:

1. **CUDA graph** (:class:`CudaGraphStep`), on CUDA unless ``MUSICGEN_BRIDGE_CUDA_GRAPHS=0``:
   the fixed-shape step captured once and replayed (eager again should the capture fail).
2. **C step** (:class:`.cpu_step.CpuStep`), bf16 decoder weights on x86 CPUs with AVX2+FMA or
   better (the instruction set: :func:`.cpu_kernels.pick_isa`), at most 16 rows, and the widths
   and layer types the C function takes (:mod:`.cpu_step` says which;
   ``MUSICGEN_BRIDGE_CPU_STEP=0`` turns it off): the whole step in one C call.
3. **Eager step** (:meth:`.runner.DecoderRunner.step`) everywhere else (fp32 CPUs, MPS, CUDA
   with graphs off, the C step or the kernels turned off): torch operations, with bf16 products
   through the kernels where they apply.

The fourth, :class:`StaticStep` (the fixed-shape step run eagerly), is what the CUDA graph
captures; it runs on its own only in tests, which check it on the CPU against transformers.
The CUDA graph, the fixed-shape and the eager step run the same layer code
(:meth:`.runner.DecoderRunner._layers`); the C step is its one other implementation.
"""

from __future__ import annotations

import logging
import os

from .cpu_step import cpu_step_for
from .runner import DecoderRunner

log = logging.getLogger("bridge.engine")

#: Set to "0" to run CUDA steps eagerly instead of replaying a CUDA graph.
CUDA_GRAPHS_ENV = "MUSICGEN_BRIDGE_CUDA_GRAPHS"


def step_for(runner: DecoderRunner):
    """The per-step callable for ``runner``: the first of the steps above that applies."""
    if runner.weights.device.type == "cuda" and os.environ.get(CUDA_GRAPHS_ENV, "1") != "0":
        return CudaGraphStep(runner)
    return cpu_step_for(runner) or runner.step


class StaticStep:
    """The one-token step with fixed shapes: token and position live in preallocated tensors,
    keys/values are written with ``index_copy_`` and attention covers the whole static cache,
    masked beyond the position. What :class:`CudaGraphStep` captures; eager elsewhere (tests
    run it on the CPU to check it against transformers)."""

    def __init__(self, runner: DecoderRunner):
        import torch

        self.runner = runner
        dev = runner.weights.device
        self.tokens = torch.zeros((runner.rows, runner.weights.num_codebooks), dtype=torch.long, device=dev)
        self.position = torch.zeros((1,), dtype=torch.long, device=dev)

    def _run(self):
        runner = self.runner
        return runner.logits(runner.forward_at(runner.embed(self.tokens[:, :, None]), self.position))

    def _load(self, tokens, position: int) -> None:
        self.tokens.copy_(tokens)
        self.position.fill_(self.runner.prefix_len + position)

    def __call__(self, tokens, position: int):
        self._load(tokens, position)
        return self._run()


class CudaGraphStep(StaticStep):
    """:class:`StaticStep` captured once in a CUDA graph and replayed every step (a few hundred
    kernel launches become one). Unmeasured on real GPUs (no GPU where this was written): set
    ``MUSICGEN_BRIDGE_CUDA_GRAPHS=0`` to run the steps eagerly. Should the capture fail, the
    generation goes on with the same fixed-shape step run eagerly (nothing of the capture was
    executed, so the cache is as the warm-up steps left it), and a warning is logged."""

    def __init__(self, runner: DecoderRunner, warmup: int = 2):
        super().__init__(runner)
        self.graph = None
        self.out = None
        self.warmup = warmup
        self.eager = False

    def __call__(self, tokens, position: int):
        import torch

        self._load(tokens, position)
        if self.eager:
            return self._run()
        if self.graph is None:
            if self.warmup > 0:  # warm up on a side stream before capture, as torch's docs ask
                self.warmup -= 1
                stream = torch.cuda.Stream()
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    out = self._run()
                torch.cuda.current_stream().wait_stream(stream)
                return out
            graph = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(graph):
                    self.out = self._run()
            except Exception as exc:  # an operation that cannot be captured: run eagerly
                log.warning("fast decoder: CUDA graph capture failed (%s); steps run eagerly "
                            "(MUSICGEN_BRIDGE_CUDA_GRAPHS=0 skips the attempt)", (str(exc).splitlines() or [type(exc).__name__])[0][:200])
                self.eager = True
                self.out = None
                return self._run()
            self.graph = graph
        self.graph.replay()
        return self.out.clone()
