"""The MusicGen decoder run one position at a time over a static KV cache (:class:`DecoderRunner`).

Rows are the batch rows the decoder runs: the conditional rows, then, with classifier-free
guidance, as many guidance rows. Tokens ``(rows, codebooks, n)``; hidden states ``(rows, n,
hidden)``; keys/values ``(rows, heads, positions, head_dim)`` (:mod:`.kv_cache`); logits fp32
``(rows * codebooks, codes)``.
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

    def __init__(self, weights: DecoderWeights, cond: EncodedConditioning, rows: int, max_tokens: int):
        self.w = weights
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

            for layer in weights.layers:
                self.cache.cross_keys.append(self._split(F.linear(cond.cross_states, layer["ck"])))
                self.cache.cross_values.append(self._split(F.linear(cond.cross_states, layer["cv"])))

    def _split(self, x):
        """(rows, n, hidden) -> (rows, heads, n, head_dim)."""
        return x.view(x.shape[0], x.shape[1], self.w.heads, self.w.head_dim).transpose(1, 2)

    def embed(self, tokens):
        """Sum of the codebooks' embeddings: tokens ``(rows, codebooks, n)`` -> ``(rows, n, hidden)``."""
        import torch.nn.functional as F

        return sum(F.embedding(tokens[:, k], self.w.embed_tokens[k]) for k in range(tokens.shape[1]))

    def forward(self, embeds, start: int):
        """Run ``embeds (rows, n, hidden)`` at cache positions ``start..start+n-1``; returns the
        final-norm hidden states ``(rows, n, hidden)``. A multi-position call must start at 0."""
        import torch.nn.functional as F

        w = self.w
        lin = self.linear
        rows, n, hidden = embeds.shape
        if n > 1 and start != 0:
            raise ValueError("multi-position forward only from an empty cache")
        h = embeds + w.positions[start:start + n]
        for i, layer in enumerate(w.layers):
            residual = h
            x = _layer_norm(h, layer["ln1"])
            q, k, v = (self._split(y) for y in self.linear_many(x, (layer["q"], layer["k"], layer["v"])))
            keys, values = self.cache.write(i, start, k, v)
            a = F.scaled_dot_product_attention(q, keys, values, dropout_p=0.0, scale=w.scaling, is_causal=n > 1)
            a = a.transpose(1, 2).reshape(rows, n, hidden)
            h = residual + lin(a, layer["o"])
            if w.has_cross:
                residual = h
                x = _layer_norm(h, layer["ln2"])
                q = self._split(lin(x, layer["cq"]))
                a = F.scaled_dot_product_attention(q, self.cache.cross_keys[i], self.cache.cross_values[i],
                                                   attn_mask=self.cond.cross_mask, dropout_p=0.0, scale=w.scaling)
                a = a.transpose(1, 2).reshape(rows, n, hidden)
                h = residual + lin(a, layer["co"])
            residual = h
            x = _layer_norm(h, layer["ln3"])
            x = layer["act_fn"](lin(x, layer["fc1"]))
            h = residual + lin(x, layer["fc2"])
        self.cache.length = start + n
        return w.final_norm(h)

    def logits(self, hidden):
        """Logits of the last position: ``(rows, n, hidden)`` -> fp32 ``(rows * codebooks, vocab)``."""
        import torch

        out = torch.stack(self.linear_many(hidden, self.w.heads_w), dim=1)  # (rows, K, n, V)
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


def static_forward(runner: DecoderRunner, embeds, position):
    """A one-token step with shapes that do not depend on the position (CUDA-graph ready):
    keys/values are written with ``index_copy_`` at ``position`` (a 1-element long tensor) and
    attention covers the whole cache, masked beyond ``position``."""
    import torch
    import torch.nn.functional as F

    w = runner.w
    lin = runner.linear
    cache = runner.cache
    rows, n, hidden = embeds.shape
    h = embeds + w.positions.index_select(0, position)
    visible = (torch.arange(cache.max_positions, device=position.device) <= position)[None, None, None, :]
    for i, layer in enumerate(w.layers):
        residual = h
        x = layer["ln1"](h)
        q = runner._split(lin(x, layer["q"]))
        cache.keys[i].index_copy_(2, position, runner._split(lin(x, layer["k"])))
        cache.values[i].index_copy_(2, position, runner._split(lin(x, layer["v"])))
        a = F.scaled_dot_product_attention(q, cache.keys[i], cache.values[i], attn_mask=visible,
                                           dropout_p=0.0, scale=w.scaling)
        a = a.transpose(1, 2).reshape(rows, n, hidden)
        h = residual + lin(a, layer["o"])
        if w.has_cross:
            residual = h
            x = layer["ln2"](h)
            q = runner._split(lin(x, layer["cq"]))
            a = F.scaled_dot_product_attention(q, cache.cross_keys[i], cache.cross_values[i],
                                               attn_mask=runner.cond.cross_mask, dropout_p=0.0, scale=w.scaling)
            a = a.transpose(1, 2).reshape(rows, n, hidden)
            h = residual + lin(a, layer["co"])
        residual = h
        x = layer["ln3"](h)
        x = layer["act"](lin(x, layer["fc1"]))
        h = residual + lin(x, layer["fc2"])
    return w.final_norm(h)
