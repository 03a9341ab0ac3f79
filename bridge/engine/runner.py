"""The MusicGen decoder run one position at a time over a static KV cache (:class:`DecoderRunner`).

Rows are the batch rows the decoder runs: the conditional rows, then, with classifier-free
guidance, as many guidance rows. Tokens ``(rows, codebooks, n)``; hidden states ``(rows, n,
hidden)``; keys/values ``(rows, heads, positions, head_dim)`` (:mod:`.kv_cache`); logits fp32
``(rows * codebooks, codes)``.

One forward pass serves both ways of running a position: :meth:`DecoderRunner.forward` (the
prefill and the eager step: attention over the filled part of the cache) and
:meth:`DecoderRunner.forward_at` (fixed shapes, what the CUDA graph captures) run the same
layers (:meth:`DecoderRunner._layers`) and differ only in how self-attention stores and reads
keys and values.
"""

from __future__ import annotations

from .conditioning import EncodedConditioning
from .kv_cache import StaticKVCache
from .weights import DecoderWeights, linear_for


def _layer_norm(x, ln):
    """``ln(x)`` without the module call (``nn.LayerNorm.forward`` is exactly this)."""
    import torch.nn.functional as F

    return F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)


class DecoderRunner:
    """Runs the MusicGen decoder one step at a time over a static KV cache."""

    def __init__(self, weights: DecoderWeights, cond: EncodedConditioning, rows: int, max_tokens: int,
                 cpu_int8: bool = False):
        self.weights = weights
        #: Whether the C step should read int8 copies of the weights (:mod:`.int8_switch`).
        self.cpu_int8 = cpu_int8
        self.cond = cond
        self.rows = rows
        self.prefix_len = cond.prefix_len
        self.max_positions = self.prefix_len + max_tokens
        if self.max_positions > weights.positions.shape[0]:
            raise ValueError(f"the decoder holds {weights.positions.shape[0]} positions; this generation needs "
                             f"{self.max_positions} (shorten the clip or the audio prompt)")
        self.linear, self.linear_many = linear_for(weights)
        self.cache = StaticKVCache.allocate(layers=len(weights.layers), rows=rows, heads=weights.heads,
                                            head_dim=weights.head_dim, max_positions=self.max_positions,
                                            dtype=weights.dtype, device=weights.device)
        if cond.cross_states is not None:  # once per generation, many rows: torch's product
            import torch.nn.functional as F

            # the text encoder may stay in fp32 while the decoder is bf16 (CPUs without native bf16)
            states = cond.cross_states.to(weights.dtype)
            for layer in weights.layers:
                self.cache.cross_keys.append(self._split(F.linear(states, layer["ck"])))
                self.cache.cross_values.append(self._split(F.linear(states, layer["cv"])))

    def _split(self, x):
        """(rows, n, hidden) -> (rows, heads, n, head_dim)."""
        return x.view(x.shape[0], x.shape[1], self.weights.heads, self.weights.head_dim).transpose(1, 2)

    def _merge(self, x):
        """(rows, heads, n, head_dim) -> (rows, n, hidden)."""
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], self.weights.hidden)

    def embed(self, tokens):
        """Sum of the codebooks' embeddings: tokens ``(rows, codebooks, n)`` -> ``(rows, n, hidden)``."""
        import torch.nn.functional as F

        return sum(F.embedding(tokens[:, k], self.weights.embed_tokens[k]) for k in range(tokens.shape[1]))

    def forward(self, embeds, start: int):
        """Run ``embeds (rows, n, hidden)`` at cache positions ``start..start+n-1``; returns the
        final-norm hidden states ``(rows, n, hidden)``. A multi-position call must start at 0.
        Attention reads the filled part of the cache (causal within a multi-position call)."""
        import torch.nn.functional as F

        n = embeds.shape[1]
        if n > 1 and start != 0:
            raise ValueError("multi-position forward only from an empty cache")
        scale = self.weights.scaling

        def self_attention(i, q, k, v):
            keys, values = self.cache.write(i, start, k, v)
            return F.scaled_dot_product_attention(q, keys, values, dropout_p=0.0, scale=scale, is_causal=n > 1)

        h = self._layers(embeds + self.weights.positions[start:start + n], self_attention)
        self.cache.length = start + n
        return h

    def forward_at(self, embeds, position):
        """One position with shapes that do not depend on it (CUDA-graph ready): ``embeds (rows,
        1, hidden)`` at ``position`` (a 1-element long tensor). Keys/values are written with
        ``index_copy_`` and attention covers the whole cache, masked beyond ``position``."""
        import torch
        import torch.nn.functional as F

        cache = self.cache
        scale = self.weights.scaling
        visible = (torch.arange(cache.max_positions, device=position.device) <= position)[None, None, None, :]

        def self_attention(i, q, k, v):
            cache.keys[i].index_copy_(2, position, k)
            cache.values[i].index_copy_(2, position, v)
            return F.scaled_dot_product_attention(q, cache.keys[i], cache.values[i], attn_mask=visible,
                                                  dropout_p=0.0, scale=scale)

        return self._layers(embeds + self.weights.positions.index_select(0, position), self_attention)

    def _layers(self, h, self_attention):
        """Every decoder layer over ``h (rows, n, hidden)`` (embeddings plus positions), then the
        final norm. ``self_attention(i, q, k, v)`` stores layer ``i``'s keys and values ``(rows,
        heads, n, head_dim)`` and returns the attention of the queries ``q`` (same shape): the
        one part in which the eager and the fixed-shape forward differ."""
        import torch.nn.functional as F

        w = self.weights
        lin = self.linear
        for i, layer in enumerate(w.layers):
            x = _layer_norm(h, layer["ln1"])
            q, k, v = (self._split(y) for y in self.linear_many(x, (layer["q"], layer["k"], layer["v"])))
            h = h + lin(self._merge(self_attention(i, q, k, v)), layer["o"])
            if w.has_cross:
                x = _layer_norm(h, layer["ln2"])
                q = self._split(lin(x, layer["cq"]))
                a = F.scaled_dot_product_attention(q, self.cache.cross_keys[i], self.cache.cross_values[i],
                                                   attn_mask=self.cond.cross_mask, dropout_p=0.0, scale=w.scaling)
                h = h + lin(self._merge(a), layer["co"])
            x = _layer_norm(h, layer["ln3"])
            h = h + lin(layer["act_fn"](lin(x, layer["fc1"])), layer["fc2"])
        return w.final_norm(h)

    def logits(self, hidden):
        """Logits of the last position: ``(rows, n, hidden)`` -> fp32 ``(rows * codebooks, vocab)``."""
        import torch

        out = torch.stack(self.linear_many(hidden, self.weights.heads_w), dim=1)  # (rows, K, n, V)
        return out[:, :, -1].reshape(-1, out.shape[-1]).float()

    def prefill(self, tokens):
        """Prefix (melody) and the first decoder tokens ``(rows, codebooks, n)``; logits of the last."""
        import torch

        embeds = self.embed(tokens)
        if self.cond.prefix is not None:
            embeds = torch.cat([self.cond.prefix.to(embeds.dtype), embeds], dim=1)
        return self.logits(self.forward(embeds, 0))

    def step(self, tokens, position: int):
        """One token per row ``(rows, codebooks)`` at decoder position ``position``; its logits."""
        embeds = self.embed(tokens[:, :, None])
        return self.logits(self.forward(embeds, self.prefix_len + position))

