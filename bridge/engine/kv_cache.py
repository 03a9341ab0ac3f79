"""Preallocated key/value cache for the fast decoder.

transformers' MusicGen always uses a ``DynamicCache``, which concatenates every layer's keys and
values each step (a copy of the whole cache per step). This cache is allocated once for the
longest sequence the generation can reach and written in place: one row per step.

Shapes follow SDPA's layout: ``(rows, heads, positions, head_dim)``; ``rows`` are the batch
rows the decoder runs (conditional rows, then the classifier-free-guidance rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StaticKVCache:
    """Self-attention keys/values per layer, written in place; cross-attention keys/values once."""

    keys: list             # per layer: (rows, heads, max_positions, head_dim)
    values: list           # per layer: same
    max_positions: int
    length: int = 0        # positions filled so far
    cross_keys: list = field(default_factory=list)    # per layer: (rows, heads, text_len, head_dim)
    cross_values: list = field(default_factory=list)

    @classmethod
    def allocate(cls, *, layers: int, rows: int, heads: int, head_dim: int, max_positions: int,
                 dtype, device) -> "StaticKVCache":
        import torch

        shape = (rows, heads, max_positions, head_dim)
        keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        return cls(keys=keys, values=values, max_positions=max_positions)

    def nbytes(self) -> int:
        """Bytes held by the cache (self- and cross-attention)."""
        tensors = self.keys + self.values + self.cross_keys + self.cross_values
        return sum(t.numel() * t.element_size() for t in tensors)

    def write(self, layer: int, start: int, k, v):
        """Store ``k``/``v`` ``(rows, heads, n, head_dim)`` at positions ``start..start+n-1`` and
        return views of the filled part ``[0, start+n)`` for attention."""
        end = start + k.shape[2]
        if end > self.max_positions:
            raise ValueError(f"KV cache holds {self.max_positions} positions; asked for {end}")
        kc, vc = self.keys[layer], self.values[layer]
        kc[:, :, start:end].copy_(k)
        vc[:, :, start:end].copy_(v)
        return kc[:, :, :end], vc[:, :, :end]
