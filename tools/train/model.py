"""DeepSeek-V3 in PyTorch, written from docs/architecture-v3.md, small enough to train on two CPU cores.

Parameter names follow the Hugging Face checkpoints, so state_dict() keys are the safetensors names.
The same module computes in float32 (training) and float64 (the reference for the engine's tests).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

# A released V3 config.json, shrunk: same fields, same behavioural values, small sizes.
TINY_CONFIG = {
    'architectures': ['DeepseekV3ForCausalLM'],
    'model_type': 'deepseek_v3',
    'vocab_size': 3072,
    'hidden_size': 256,
    'intermediate_size': 768,
    'moe_intermediate_size': 192,
    'num_hidden_layers': 4,
    'first_k_dense_replace': 1,
    'moe_layer_freq': 1,
    'num_attention_heads': 4,
    'num_key_value_heads': 4,
    'n_routed_experts': 8,
    'n_shared_experts': 1,
    'num_experts_per_tok': 2,
    'n_group': 4,
    'topk_group': 2,
    'routed_scaling_factor': 2.5,
    'scoring_func': 'sigmoid',
    'topk_method': 'noaux_tc',
    'norm_topk_prob': True,
    'q_lora_rank': 128,
    'kv_lora_rank': 64,
    'qk_nope_head_dim': 32,
    'qk_rope_head_dim': 16,
    'v_head_dim': 32,
    'rope_theta': 10000.0,
    'rope_scaling': {
        'type': 'yarn',
        'factor': 40,
        'original_max_position_embeddings': 4096,
        'beta_fast': 32,
        'beta_slow': 1,
        'mscale': 1.0,
        'mscale_all_dim': 1.0,
    },
    'max_position_embeddings': 163840,
    'rms_norm_eps': 1e-06,
    'tie_word_embeddings': False,
    'hidden_act': 'silu',
    'num_nextn_predict_layers': 1,
    'ep_size': 1,
    'aux_loss_alpha': 0.001,
    'seq_aux': True,
    'attention_bias': False,
    'attention_dropout': 0.0,
    'initializer_range': 0.02,
    'pretraining_tp': 1,
    'use_cache': True,
    'bos_token_id': 0,
    'eos_token_id': 1,
    'torch_dtype': 'bfloat16',
    'transformers_version': '4.46.3',
}


def yarn_inv_freq_and_scale(cfg):
    """inv_freq for the rope dims and the softmax scale, YaRN-corrected when rope_scaling says yarn."""
    dim, base = cfg['qk_rope_head_dim'], cfg['rope_theta']
    freq = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    scale = (cfg['qk_nope_head_dim'] + dim) ** -0.5
    rs = cfg.get('rope_scaling')
    if not rs or rs.get('type', rs.get('rope_type')) != 'yarn':
        return freq, scale
    f, l0 = rs['factor'], rs['original_max_position_embeddings']

    def corr(r):
        return dim * math.log(l0 / (2 * math.pi * r)) / (2 * math.log(base))

    low = max(math.floor(corr(rs['beta_fast'])), 0)
    high = min(math.ceil(corr(rs['beta_slow'])), dim - 1)
    if high == low:
        high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
    inv_freq = freq * (1 - ramp) + freq / f * ramp
    m = 0.1 * rs['mscale_all_dim'] * math.log(f) + 1 if f > 1 else 1.0
    return inv_freq, scale * m * m


def rope(x, rot):
    """Rotates adjacent pairs (x[2i], x[2i+1]) as complex numbers; x [..., T, dim], rot [T, dim/2] complex."""
    xc = torch.view_as_complex(x.contiguous().view(*x.shape[:-1], -1, 2))
    return torch.view_as_real(xc * rot).flatten(-2)


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MLA(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, h = c['hidden_size'], c['num_attention_heads']
        self.h, self.nope, self.rope_dim, self.v = h, c['qk_nope_head_dim'], c['qk_rope_head_dim'], c['v_head_dim']
        self.kv_rank = c['kv_lora_rank']
        qk = self.nope + self.rope_dim
        self.q_a_proj = nn.Linear(d, c['q_lora_rank'], bias=False)
        self.q_a_layernorm = RMSNorm(c['q_lora_rank'], c['rms_norm_eps'])
        self.q_b_proj = nn.Linear(c['q_lora_rank'], h * qk, bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(d, self.kv_rank + self.rope_dim, bias=False)
        self.kv_a_layernorm = RMSNorm(self.kv_rank, c['rms_norm_eps'])
        self.kv_b_proj = nn.Linear(self.kv_rank, h * (self.nope + self.v), bias=False)
        self.o_proj = nn.Linear(h * self.v, d, bias=False)
        _, self.scale = yarn_inv_freq_and_scale(c)

    def forward(self, x, rot):
        b, t, _ = x.shape
        q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x))).view(b, t, self.h, -1).transpose(1, 2)
        q_nope, q_pe = q.split([self.nope, self.rope_dim], dim=-1)
        q_pe = rope(q_pe, rot)
        c_kv, k_pe = self.kv_a_proj_with_mqa(x).split([self.kv_rank, self.rope_dim], dim=-1)
        k_pe = rope(k_pe, rot).unsqueeze(1)  # one k_pe shared by all heads
        kv = self.kv_b_proj(self.kv_a_layernorm(c_kv)).view(b, t, self.h, -1).transpose(1, 2)
        k_nope, v = kv.split([self.nope, self.v], dim=-1)
        scores = (q_nope @ k_nope.transpose(-1, -2) + q_pe @ k_pe.transpose(-1, -2)) * self.scale
        causal = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        p = scores.masked_fill(causal, float('-inf')).softmax(-1)
        return self.o_proj((p @ v).transpose(1, 2).reshape(b, t, -1))


class SwiGLU(nn.Module):
    def __init__(self, d, inter):
        super().__init__()
        self.gate_proj = nn.Linear(d, inter, bias=False)
        self.up_proj = nn.Linear(d, inter, bias=False)
        self.down_proj = nn.Linear(inter, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Gate(nn.Module):
    """Sigmoid router with noaux_tc group-limited selection (DeepSeek's masking with -inf)."""

    def __init__(self, c):
        super().__init__()
        self.e, self.k = c['n_routed_experts'], c['num_experts_per_tok']
        self.groups, self.topk_groups = c['n_group'], c['topk_group']
        self.norm_topk, self.route_scale = c['norm_topk_prob'], c['routed_scaling_factor']
        self.weight = nn.Parameter(torch.empty(self.e, c['hidden_size']))
        # Selection only; moved by the load-balancing rule, not by gradients. Kept float32 like V3's.
        self.register_buffer('e_score_correction_bias', torch.zeros(self.e, dtype=torch.float32))

    def mask_groups(self, b, g):
        """b with the experts outside the topk_group best groups (by group score g) set to -inf."""
        keep = g.topk(self.topk_groups, dim=-1)[1]
        drop = torch.ones_like(g, dtype=torch.bool).scatter_(1, keep, False)
        return b.masked_fill(drop.repeat_interleave(self.e // self.groups, dim=1), float('-inf'))

    def forward(self, x):
        s = F.linear(x, self.weight).sigmoid()
        b = s + self.e_score_correction_bias.to(s.dtype)  # biased scores choose; unbiased scores weigh
        self.last_biased = b.detach()
        if self.groups > 1:
            # A group's score is the sum of its two best biased scores.
            b = self.mask_groups(b, b.view(-1, self.groups, self.e // self.groups).topk(2, dim=-1)[0].sum(-1))
        idx = b.topk(self.k, dim=-1)[1]
        w = s.gather(1, idx)
        if self.norm_topk:
            w = w / w.sum(-1, keepdim=True)
        return idx, w * self.route_scale


class MoE(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, inter = c['hidden_size'], c['moe_intermediate_size']
        self.gate = Gate(c)
        self.experts = nn.ModuleList(SwiGLU(d, inter) for _ in range(c['n_routed_experts']))
        self.shared_experts = SwiGLU(d, inter * c['n_shared_experts'])
        self.last_load = None

    def forward(self, x):
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        idx, w = self.gate(x)
        self.last_load = torch.bincount(idx.flatten(), minlength=len(self.experts))
        y = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            tok, slot = (idx == e).nonzero(as_tuple=True)
            if tok.numel():
                y.index_add_(0, tok, expert(x[tok]) * w[tok, slot, None])
        return (y + self.shared_experts(x)).view(shape)


class DecoderLayer(nn.Module):
    def __init__(self, c, moe):
        super().__init__()
        self.input_layernorm = RMSNorm(c['hidden_size'], c['rms_norm_eps'])
        self.self_attn = MLA(c)
        self.post_attention_layernorm = RMSNorm(c['hidden_size'], c['rms_norm_eps'])
        self.mlp = MoE(c) if moe else SwiGLU(c['hidden_size'], c['intermediate_size'])

    def forward(self, h, rot):
        h = h + self.self_attn(self.input_layernorm(h), rot)
        return h + self.mlp(self.post_attention_layernorm(h))


class SharedHead(nn.Module):
    """The MTP module's output norm. Its `head` is the main lm_head in training; the export writes a copy
    as `shared_head.head.weight` (and of the embedding as `embed_tokens.weight`), as V3's release does."""

    def __init__(self, c):
        super().__init__()
        self.norm = RMSNorm(c['hidden_size'], c['rms_norm_eps'])


class MTPModule(DecoderLayer):
    """DeepSeek-V3's multi-token prediction module (docs/architecture-v3.md#mtp), stored as decoder layer
    num_hidden_layers: from the last main layer's output h_i and the embedding of t_{i+1} it predicts t_{i+2}:
    h' = eh_proj(concat(enorm(embed(t_{i+1})), hnorm(h_i))), then a decoder layer, shared_head.norm, head."""

    def __init__(self, c, moe):
        super().__init__(c, moe)
        d = c['hidden_size']
        self.enorm = RMSNorm(d, c['rms_norm_eps'])
        self.hnorm = RMSNorm(d, c['rms_norm_eps'])
        self.eh_proj = nn.Linear(2 * d, d, bias=False)
        self.shared_head = SharedHead(c)


def is_moe(c, i):
    return bool(c['n_routed_experts']) and i >= c['first_k_dense_replace'] and i % c['moe_layer_freq'] == 0


class Backbone(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c['vocab_size'], c['hidden_size'])
        n = c['num_hidden_layers']
        # MTP modules follow the main layers (indices n, n+1, ...), MoE when the model has experts.
        self.layers = nn.ModuleList(
            [DecoderLayer(c, moe=is_moe(c, i)) for i in range(n)]
            + [MTPModule(c, moe=bool(c['n_routed_experts'])) for _ in range(c.get('num_nextn_predict_layers', 0))])
        self.norm = RMSNorm(c['hidden_size'], c['rms_norm_eps'])


class DeepseekV3(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.model = Backbone(c)
        self.lm_head = nn.Linear(c['hidden_size'], c['vocab_size'], bias=False)
        inv_freq, _ = yarn_inv_freq_and_scale(c)
        self.register_buffer('inv_freq', inv_freq, persistent=False)

    def init_weights(self, seed):
        g = torch.Generator().manual_seed(seed)
        std = self.config['initializer_range']
        # Residual-branch outputs start smaller so that the sum over layers keeps unit scale.
        out_std = std / math.sqrt(2 * self.config['num_hidden_layers'])
        for name, p in self.named_parameters():
            if name.endswith('layernorm.weight') or name.endswith('norm.weight'):
                nn.init.ones_(p)
            else:
                s = out_std if name.endswith(('o_proj.weight', 'down_proj.weight')) else std
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=g) * s)

    def main_layers(self):
        return self.model.layers[:self.config['num_hidden_layers']]

    def mtp_modules(self):
        return self.model.layers[self.config['num_hidden_layers']:]

    def moe_layers(self, mtp=False):
        """The main model's MoE blocks, and the MTP modules' too when mtp (all of them need balancing)."""
        layers = self.model.layers if mtp else self.main_layers()
        return [l.mlp for l in layers if isinstance(l.mlp, MoE)]

    def rotations(self, t):
        dtype = self.lm_head.weight.dtype
        ang = torch.arange(t, dtype=torch.float64, device=self.inv_freq.device)[:, None] * self.inv_freq[None, :]
        return torch.polar(torch.ones_like(ang), ang).to(torch.complex128 if dtype == torch.float64 else torch.complex64)

    def hidden(self, ids):
        """The last main layer's output (before model.norm) for every position: what the MTP module reads."""
        rot = self.rotations(ids.shape[1])
        h = self.model.embed_tokens(ids)
        for layer in self.main_layers():
            h = layer(h, rot)
        return h

    def head(self, h):
        return self.lm_head(self.model.norm(h))

    def forward(self, ids):
        return self.head(self.hidden(ids))

    def mtp_logits(self, h, next_ids):
        """Draft logits of the first MTP module: row i, from h_i and next_ids[:, i] = t_{i+1}, predicts t_{i+2}.
        The module runs at the main model's positions 0, 1, ... with its own attention over its own rows."""
        m = self.mtp_modules()[0]
        x = m.eh_proj(torch.cat([m.enorm(self.model.embed_tokens(next_ids)), m.hnorm(h)], dim=-1))
        x = m(x, self.rotations(h.shape[1]))
        return self.lm_head(m.shared_head.norm(x))


def route_margin(gate, rows):
    """Smallest gap, over the given token rows of the last forward pass, between a chosen and a rejected
    choice (group, then expert within the kept groups): how far routing was from flipping."""
    b = gate.last_biased[rows]
    margin = float('inf')
    if gate.groups > 1:
        g = b.view(-1, gate.groups, gate.e // gate.groups).topk(2, dim=-1)[0].sum(-1)
        if gate.topk_groups < gate.groups:
            gs = g.sort(dim=-1, descending=True)[0]
            margin = float((gs[:, gate.topk_groups - 1] - gs[:, gate.topk_groups]).min())
        b = gate.mask_groups(b, g)
    top = b.topk(gate.k + 1, dim=-1)[0]
    return min(margin, float((top[:, gate.k - 1] - top[:, gate.k]).min()))


@torch.no_grad()
def greedy(model, prompt, n):
    """n greedy tokens after prompt (full recompute each step, no cache), with per-step top-2 logit
    margins and routing margins (how close the argmax and the expert choice were to a tie)."""
    ids = list(prompt)
    out, margins, routes = [], [], []
    for step in range(n):
        logits = model(torch.tensor([ids]))[0]
        top = logits[-1].topk(2)
        out.append(int(top.indices[0]))
        margins.append(float(top.values[0] - top.values[1]))
        new = slice(0, len(ids)) if step == 0 else slice(len(ids) - 1, len(ids))
        routes.append(min(route_margin(m.gate, new) for m in model.moe_layers()) if model.moe_layers() else None)
        ids.append(out[-1])
    return out, margins, routes


def count_params(model):
    """(total, used per token) trained parameters, MTP module included; its shared embedding and head count once."""
    total = sum(p.numel() for p in model.parameters())
    c = model.config
    expert = 3 * c['hidden_size'] * c['moe_intermediate_size']
    n_moe = len(model.moe_layers(mtp=True))
    # Per token: everything except the routed experts a token does not use (embedding rows counted in full).
    active = total - n_moe * (c['n_routed_experts'] - c['num_experts_per_tok']) * expert
    return total, active
