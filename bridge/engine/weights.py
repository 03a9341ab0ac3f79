"""The decoder's weights as the fast decoder reads them: views of transformers' own tensors,
gathered once per model (no copies), and the matrix products that read them.

The products are torch's ``F.linear``, except for bf16 weights on CPUs that have the
AVX512-BF16 kernels (:mod:`.cpu_kernels`): those take the products of few rows. (On AVX2 and
AVX-512F CPUs only the whole C step is in C; the eager step's products there are torch's.)
"""

from __future__ import annotations

from . import cpu_kernels as _cpu_kernels


class DecoderWeights:
    """Views of the decoder's weight tensors, gathered once per model (no copies).

    ``embed_tokens[k]`` ``(codes + 1, hidden)`` per codebook (the last row: the start/pad
    token), ``positions`` ``(max_positions, hidden)`` (sinusoidal), ``heads_w[k]`` ``(codes,
    hidden)`` per codebook. Per layer, ``layers[i]`` maps: ``ln1`` (self-attention norm),
    ``q``/``k``/``v``/``o`` ``(hidden, hidden)``; with cross-attention (MusicGen, not Melody)
    ``ln2``, ``cq``/``ck``/``cv``/``co``; ``ln3`` (feed-forward norm), ``fc1`` ``(ffn, hidden)``,
    ``fc2`` ``(hidden, ffn)`` and ``act_fn`` (the activation).
    """

    def __init__(self, model):
        causal_lm = model.decoder                      # Musicgen(Melody)ForCausalLM
        dec = causal_lm.model.decoder                  # Musicgen(Melody)Decoder
        config = causal_lm.config
        self.config = config
        self.hidden = int(config.hidden_size)
        self.heads = int(config.num_attention_heads)
        self.head_dim = self.hidden // self.heads
        self.num_codebooks = int(config.num_codebooks)
        self.channels = int(getattr(config, "audio_channels", 1))
        self.embed_tokens = [e.weight for e in dec.embed_tokens]
        self.positions = dec.embed_positions.weights
        self.final_norm = dec.layer_norm
        self.heads_w = [h.weight for h in causal_lm.lm_heads]
        self.scaling = dec.layers[0].self_attn.scaling
        self.has_cross = hasattr(dec.layers[0], "encoder_attn")
        self.layers = []
        for layer in dec.layers:
            sa = layer.self_attn
            entry = {
                "ln1": layer.self_attn_layer_norm,
                "q": sa.q_proj.weight, "k": sa.k_proj.weight, "v": sa.v_proj.weight, "o": sa.out_proj.weight,
                "ln3": layer.final_layer_norm, "fc1": layer.fc1.weight, "fc2": layer.fc2.weight,
            }
            entry["act_fn"] = _act_function(layer.activation_fn)
            if any(m.bias is not None for m in (sa.q_proj, sa.k_proj, sa.v_proj, sa.out_proj, layer.fc1, layer.fc2)):
                raise NotImplementedError("attention or feed-forward projections with bias are not supported")
            if self.has_cross:
                ca = layer.encoder_attn
                entry.update(ln2=layer.encoder_attn_layer_norm, cq=ca.q_proj.weight, ck=ca.k_proj.weight,
                             cv=ca.v_proj.weight, co=ca.out_proj.weight)
            self.layers.append(entry)
        self.dtype = self.layers[0]["q"].dtype
        self.device = self.layers[0]["q"].device

    def weight_bytes_per_step(self) -> int:
        """Bytes of weights one decoding step reads (cross-attention K/V weights excluded)."""
        names = ("q", "k", "v", "o", "fc1", "fc2", "cq", "co")
        total = sum(w.numel() * w.element_size() for layer in self.layers for n, w in layer.items() if n in names)
        return total + sum(w.numel() * w.element_size() for w in self.heads_w)


def _act_function(module):
    """transformers' ``GELUActivation`` calls its ``act`` function; call that directly (no
    module dispatch per step, same numbers). Other activations stay modules."""
    act = getattr(module, "act", None)
    return act if type(module).__name__ == "GELUActivation" and callable(act) else module


def _layer_norm(x, ln):
    """``ln(x)`` without the module call (``nn.LayerNorm.forward`` is exactly this)."""
    import torch.nn.functional as F

    return F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)


def weights_of(model) -> DecoderWeights:
    """The (cached) weight views of ``model``'s decoder; rebuilt when the weights change dtype
    or device (``Module.to`` replaces buffers such as the position table)."""
    cached = getattr(model, "_bridge_fast_weights", None)
    q = model.decoder.model.decoder.layers[0].self_attn.q_proj.weight
    if cached is None or cached.layers[0]["q"] is not q or cached.dtype != q.dtype or cached.device != q.device:
        cached = DecoderWeights(model)
        model._bridge_fast_weights = cached
    return cached


def _linear(x, w):
    import torch.nn.functional as F

    return F.linear(x, w)


def _kernel_linear(x, w):
    """bf16 CPU products of few rows through :mod:`.cpu_kernels`, the rest through torch."""
    y = _cpu_kernels.bf16_linear(x, w)
    return _linear(x, w) if y is None else y


def _linear_many(x, ws):
    return [_linear(x, w) for w in ws]


def _kernel_linear_many(x, ws):
    ys = _cpu_kernels.bf16_linear_many(x, ws)
    return [_kernel_linear(x, w) for w in ws] if ys is None else ys


def linear_for(weights: DecoderWeights):
    """The matrix products the decoder uses for these weights: ``(linear(x, w), many(x, ws))``."""
    import torch

    if weights.device.type == "cpu" and weights.dtype == torch.bfloat16:
        from .cpu_kernels import kernel

        if kernel() is not None:
            return _kernel_linear, _kernel_linear_many
    return _linear, _linear_many
