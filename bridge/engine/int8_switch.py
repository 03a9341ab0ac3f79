"""Whether the fast decoder's C step reads int8 copies of the decoder's weights (opt-in).

Asked for with ``--cpu-int8`` (``generate``, ``serve``, ``worker``) or ``cpu_int8 = true`` in
``serve``'s config file; off by default. ``MUSICGEN_BRIDGE_INT8=1`` or ``0``, when set, overrides
both (benchmarks use it: ``bench/decode.py`` calls the decoder without an engine).

It runs only where the C step runs (:mod:`.cpu_step`): an x86 CPU with AVX2+FMA or better, the
model on the CPU, the fast decoder, bf16 decoder weights (``--dtype auto`` or ``bf16``) and a C
compiler that builds the int8 step. Asked for anywhere else, the engine says why in one line and
runs as it would without it. The decisions are pure functions of plain values
(:func:`resolve`, :func:`plan`), tested with simulated inputs; ``build_engine`` gathers those
values.
"""

from __future__ import annotations

from collections.abc import Callable

from .cpu_kernels import INT8_ENV as ENV  # "MUSICGEN_BRIDGE_INT8": 1 or 0 overrides flag and config

_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")


def resolve(asked: bool, env_value: str | None) -> tuple[bool, str | None]:
    """``(wanted, note)``: the flag or config key's ``asked``, unless ``MUSICGEN_BRIDGE_INT8``
    (``env_value``) is set to an on or off value, which wins. ``note`` says when the variable
    overrode ``asked`` or was not understood (then ``asked`` stands)."""
    value = (env_value or "").strip().lower()
    if not value:
        return bool(asked), None
    if value not in _ON + _OFF:
        return bool(asked), f"{ENV}={env_value!r} is neither 1 nor 0; ignored"
    wanted = value in _ON
    note = None if wanted == bool(asked) else f"{ENV}={env_value.strip()} overrides the {'on' if asked else 'off'} setting"
    return wanted, note


def plan(wanted: bool, *, device: str, decoder: str, isa: str | None, kernels_off: bool, weights_dtype: str,
         int8_step: Callable[[], str | None]) -> tuple[str | None, str | None]:
    """``(step_isa, note)``: the int8 C step's instruction set (``avx512-int8``) when the C step
    reads int8 weights, else None; and, when ``wanted`` but not on, the one line saying why.

    ``device``: where the model runs; ``decoder``: ``fast`` or ``transformers``; ``isa``: the C
    step's instruction set (:func:`.cpu_kernels.isa`; None: not an x86 CPU with AVX2+FMA);
    ``kernels_off``: ``MUSICGEN_BRIDGE_CPU_KERNEL=0`` or ``MUSICGEN_BRIDGE_CPU_STEP=0``;
    ``weights_dtype``: the decoder's weights (``bf16``, ``fp32``, ...); ``int8_step()``: builds
    the int8 step and returns its instruction set (``avx512-int8``), or None when it does not
    build; called last, only when everything else allows int8."""
    if not wanted:
        return None, None
    why = None
    if device != "cpu":
        why = f"the model runs on {device}; int8 is for the C step on x86 CPUs"
    elif decoder != "fast":
        why = f"--decoder {decoder} does not use the C step (the fast decoder does)"
    elif kernels_off:
        why = "the C step is turned off (MUSICGEN_BRIDGE_CPU_KERNEL=0 or MUSICGEN_BRIDGE_CPU_STEP=0)"
    elif isa is None:
        why = "this CPU has no C step (it needs an x86 CPU with AVX2 and FMA)"
    elif weights_dtype != "bf16":
        why = f"the decoder's weights are {weights_dtype}; the C step runs on bf16 weights (--dtype auto or bf16)"
    step_isa = None if why is not None else int8_step()
    if why is None and step_isa is None:
        why = "the int8 C step did not build (is a C compiler installed?)"
    if why is not None:
        return None, f"int8 decoder weights asked for but not used: {why}"
    return step_isa, None


def status(step_isa: str | None) -> str:
    """The ready lines' words for the decoder's weights when the C step reads int8, else ``""``."""
    return f"int8 decoder weights ({step_isa} C step)" if step_isa else ""
