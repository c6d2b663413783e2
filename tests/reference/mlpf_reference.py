#!/usr/bin/env python3
"""Independent PyTorch computation of MLPF gnn_lsh for hep-mlbench's reference test.

Written from docs/model.md, not from the C++ code. Builds the model for a preset, runs a
batch with padded events (one event not a multiple of the bin size), and saves a fixture:
weights, inputs, outputs, loss parts and every parameter's gradient. The C++ test
(tests/model/test_reference.cpp) loads it and compares.

usage: mlpf_reference.py OUTPUT.pt [--width 32 --bin-size 64 ...]
"""
import argparse
import collections
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def ffn(inp, out, width, dropout=0.0):
    return nn.Sequential(nn.Linear(inp, width), nn.ELU(), nn.LayerNorm(width), nn.Dropout(dropout),
                         nn.Linear(width, out))


class GHConv(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.W_t = nn.Parameter(torch.randn(w, w) / math.sqrt(w))
        self.b_t = nn.Parameter(torch.randn(w) * 0.1)
        self.W_h = nn.Parameter(torch.randn(w, w) / math.sqrt(w))
        self.theta = nn.Parameter(torch.randn(w, w) / math.sqrt(w))

    def forward(self, x, adj, m):
        xm = x * m
        f_hom = adj @ ((xm @ self.theta) * m)
        f_het = xm @ self.W_h
        gate = torch.sigmoid(x @ self.W_t + self.b_t)
        return F.elu(gate * f_hom + (1 - gate) * f_het) * m


class LSH(nn.Module):
    def __init__(self, d, max_bins):
        super().__init__()
        self.register_buffer("codebook_random_rotations", torch.randn(d, max_bins // 2))


class GraphLayer(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.bin_size = a.bin_size
        self.layernorm1 = nn.LayerNorm(a.width, eps=1e-6)
        h = a.hidden
        self.ffn_dist = nn.Sequential(nn.Linear(a.width, h), nn.ELU(), nn.Linear(h, h), nn.ELU(),
                                      nn.Linear(h, a.distance_dim))
        self.message_building_layer = LSH(a.distance_dim, a.max_bins)
        self.message_passing_layers = nn.ModuleList([GHConv(a.width) for _ in range(a.messages)])

    def forward(self, x, mask):
        batch, n, w = x.shape
        bs = self.bin_size
        n_pad = -(-n // bs) * bs
        nb = n_pad // bs
        x = torch.cat([x, x.new_zeros(batch, n_pad - n, w)], 1)
        mask = torch.cat([mask, mask.new_zeros(batch, n_pad - n)], 1)   # pad rows are not real
        x = self.layernorm1(x)
        d = F.elu(self.ffn_dist(x))
        k = max(1, nb // 2)
        mul = d @ self.message_building_layer.codebook_random_rotations[:, :k]
        bins = torch.argmax(torch.cat([mul, -mul], -1), -1) + (nb - 1) * (~mask).long()
        order = torch.sort(bins, dim=-1, stable=True).indices                  # (B, Np)
        rows = torch.arange(batch).unsqueeze(1)
        xb = x[rows, order].reshape(batch, nb, bs, w)
        db = d[rows, order].reshape(batch, nb, bs, -1)
        mb = mask[rows, order].reshape(batch, nb, bs, 1).float()
        sq = (db * db).sum(-1)
        diff2 = sq.unsqueeze(-1) - 2 * (db @ db.transpose(-1, -2)) + sq.unsqueeze(-2)   # (B, nb, bs, bs)
        adj = torch.exp(-0.1 * torch.sqrt(diff2.clamp(1e-6, 1e6))).clamp(0, 1)
        adj = adj * mb * mb.transpose(-1, -2)
        for conv in self.message_passing_layers:
            xb = conv(xb, adj, mb)
        out = torch.empty_like(x)
        out[rows, order] = xb.reshape(batch, n_pad, w)
        return out[:, :n]


class RegHead(nn.Module):
    def __init__(self, inp, w):
        super().__init__()
        self.nn = ffn(inp, 2, w)


class Model(nn.Module):
    def __init__(self, a):
        super().__init__()
        w, nc = a.width, 6
        self.nn0_id = ffn(12, w, w)
        self.nn0_reg = ffn(12, w, w)
        self.conv_id = nn.ModuleList([GraphLayer(a) for _ in range(a.convs)])
        self.conv_reg = nn.ModuleList([GraphLayer(a) for _ in range(a.convs)])
        self.nn_id = ffn(12 + w, nc, w)
        for name in ("nn_pt", "nn_eta", "nn_sin_phi", "nn_cos_phi", "nn_energy"):
            setattr(self, name, RegHead(12 + w + nc, w))

    def forward(self, X):
        mask = X[..., 0] != 0
        h_id = self.nn0_id(X)
        for layer in self.conv_id:
            h_id = layer(h_id, mask)
        h_reg = self.nn0_reg(X)
        for layer in self.conv_reg:
            h_reg = layer(h_reg, mask)
        logits = self.nn_id(torch.cat([X, h_id], -1))
        reg_in = torch.cat([X, h_reg, logits], -1)
        preds = []
        for col, name in enumerate(("nn_pt", "nn_eta", "nn_sin_phi", "nn_cos_phi", "nn_energy"), start=1):
            ab = getattr(self, name).nn(reg_in)
            preds.append(X[..., col] * ab[..., 0] + ab[..., 1])
        return logits, torch.stack(preds, -1), mask


def loss_parts(logits, momentum, ygen, mask):
    real = mask.reshape(-1).float()
    cls = ygen[..., 0].long().reshape(-1)
    logp = F.log_softmax(logits.reshape(-1, logits.shape[-1]), -1)
    logp_t = logp[torch.arange(cls.numel()), cls]
    focal = -((1 - logp_t.exp()) ** 2) * logp_t
    l_cls = 100 * (focal * real).sum() / real.sum()
    part = (cls != 0) & mask.reshape(-1)
    tgt = ygen[..., 2:7].reshape(-1, 5)[part]
    prd = momentum.reshape(-1, 5)[part]
    std = tgt.std(0, unbiased=True).clamp_min(1e-6)
    hub = F.huber_loss(prd / std, tgt / std, reduction="none", delta=1.0)
    l_reg = 10 * hub.sum() / part.sum()
    return l_cls + l_reg, l_cls, l_reg


def make_inputs(lengths, n_max, gen):
    """Events of the given lengths, Delphes-like columns, zero padding after."""
    batch = len(lengths)
    X = torch.zeros(batch, n_max, 12)
    ygen = torch.zeros(batch, n_max, 7)
    for i, n in enumerate(lengths):
        typ = torch.randint(1, 3, (n,), generator=gen).float()
        X[i, :n, 0] = typ
        X[i, :n, 1] = torch.rand(n, generator=gen) * 10 + 0.5
        X[i, :n, 2] = torch.randn(n, generator=gen) * 2
        phi = torch.rand(n, generator=gen) * 6.283 - 3.1416
        X[i, :n, 3] = torch.sin(phi)
        X[i, :n, 4] = torch.cos(phi)
        X[i, :n, 5] = X[i, :n, 1] * torch.cosh(X[i, :n, 2])
        X[i, :n, 6:] = torch.randn(n, 6, generator=gen) * 0.5
        cls = torch.randint(0, 6, (n,), generator=gen).float()
        ygen[i, :n, 0] = cls
        ygen[i, :n, 2:7] = X[i, :n, 1:6] * (1 + 0.1 * torch.randn(n, 5, generator=gen))
    return X, ygen


def count_flops(a):
    """Matrix-product FLOPs per element of one forward pass, counted by PyTorch's
    FlopCounterMode on an event of 4 bins (no padding)."""
    from torch.utils.flop_counter import FlopCounterMode
    torch.manual_seed(0)
    model = Model(a)
    n = 4 * a.bin_size
    X, _ = make_inputs([n], n, torch.Generator().manual_seed(0))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(X)
    print(f"flops_per_element {counter.get_total_flops() / n:.6e}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("output", nargs="?")
    ap.add_argument("--flops", action="store_true", help="print matmul FLOPs per element of a forward pass")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--convs", type=int, default=2)
    ap.add_argument("--bin-size", type=int, default=64)
    ap.add_argument("--max-bins", type=int, default=200)
    ap.add_argument("--distance-dim", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--messages", type=int, default=2)
    ap.add_argument("--lengths", default="150,97,64")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--steps", type=int, default=5, help="AdamW steps after the gradient check")
    ap.add_argument("--lr", type=float, default=1e-3)
    a = ap.parse_args()
    if a.flops:
        count_flops(a)
        return
    torch.manual_seed(a.seed)
    torch.set_default_dtype(torch.float64)  # the reference in double: the C++ float32 is compared to it
    model = Model(a)
    gen = torch.Generator().manual_seed(a.seed + 1)
    lengths = [int(v) for v in a.lengths.split(",")]
    X, ygen = make_inputs(lengths, max(lengths), gen)
    logits, momentum, mask = model(X)
    total, l_cls, l_reg = loss_parts(logits, momentum, ygen, mask)
    total.backward()
    fixture = {
        "X": X.float(), "ygen": ygen.float(),
        "logits": logits.detach().float(), "momentum": momentum.detach().float(),
        "loss": torch.stack([total, l_cls, l_reg]).detach().float(),
        "config": torch.tensor([a.width, a.convs, a.bin_size, a.max_bins, a.distance_dim, a.hidden, a.messages]),
    }
    for name, t in model.state_dict().items():
        fixture["weight." + name] = t.float()
    for name, p in model.named_parameters():
        fixture["grad." + name] = p.grad.float()
    # The state_dict as a PyTorch user saves it, for --init-weights: model.state_dict() is an
    # OrderedDict carrying _metadata; also without _metadata, and as a plain dict.
    sd = model.state_dict()
    ordered = collections.OrderedDict((k, v.float()) for k, v in sd.items())
    torch.save(dict(ordered), a.output + ".state_dict.pt")
    torch.save(collections.OrderedDict(ordered), a.output + ".ordered_plain.pt")
    ordered._metadata = sd._metadata
    torch.save(ordered, a.output + ".ordered.pt")
    # Several AdamW steps on the same batch (float64, torch.optim.AdamW with hep-mlbench's
    # settings): the loss before each step and the weights after the last one.
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    losses = []
    for _ in range(a.steps):
        opt.zero_grad()
        lg, mo, mk = model(X)
        t, _, _ = loss_parts(lg, mo, ygen, mk)
        t.backward()
        opt.step()
        losses.append(t.item())
    fixture["adamw"] = torch.tensor([a.lr, float(a.steps)]).float()
    fixture["adamw_losses"] = torch.tensor(losses).float()
    for name, t in model.state_dict().items():
        fixture["after." + name] = t.float()
    torch.save(fixture, a.output)
    print(f"mlpf_reference: wrote {a.output}: {len(fixture)} tensors, loss {total.item():.6f}")


if __name__ == "__main__":
    main()
