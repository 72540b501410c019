"""The MOHBA hierarchical variational model (Omidshafiei et al. 2022; docs/methods.md, 'MOHBA').

Place in the analysis: features → **model** → fit → encode → cluster → saved → describe → write.
Takes feature windows (features, actions, mask as tensors); gives named outputs (the loss and its
terms, posteriors). ``fit`` trains it, ``encode`` reads its posterior means.

Generative model of a team window τ = (τ_1, ..., τ_N), τ_i = (o_t^i, a_t^i)_{t<L}:

    z^ω ~ N(0, I)                                   joint (team) latent, one per window
    z^α_i | z^ω ~ Σ_k π_k(z^ω) N(μ_k(z^ω), σ_k(z^ω)²)  local (agent) latent, learned conditional prior
    a_t^i | o_t^i, z^α_i ~ Cat(π(o_t^i, z^α_i))      decoder; agent i is independent of z^ω given z^α_i
    (optional) o_{t+1}^i | o_t^i, a_t^i, z^α_i ~ N(f(·), I)   next-feature prediction

Inference: a sequence encoder (GRU default, or transformer) shared by all agents embeds each τ_i
into e_i → q(z^α_i | τ_i); a permutation-invariant pool over agents (Deep Sets: mean and max of
φ(e_i), then ρ) → q(z^ω | τ). The conditional prior is the same function for every agent, so the
model is exchangeable over agents and takes any number N (``agent_mask`` pads teams of different
sizes in one batch). Because it is shared, a team of different agents needs a prior with several
modes: it is a mixture of ``prior_components`` Gaussians whose weights, means and variances are
functions of z^ω — z^ω describes the team as a distribution over agent behaviours (K = 1 gives a
single Gaussian). With ``shared_components`` the means and variances are constants shared by all
teams and only the weights depend on z^ω (one vocabulary of agent behaviours for every team).

Loss (per window, averaged over windows), β-weighted ELBO:
    loss = reconstruction + β · (KL[q(z^ω)||N(0,I)] + Σ_i KL[q(z^α_i)||p(z^α_i|z^ω)])
with z^ω sampled from q(z^ω) for the conditional prior. KL[q(z^ω)||N(0,I)] is closed form; the KL
of a Gaussian q against the mixture prior has none, so its variational upper bound is used
(Hershey & Olsen 2007): KL[q||Σ_k π_k p_k] ≤ −log Σ_k π_k exp(−KL[q||p_k]), closed form and ≥ 0,
which keeps the loss a bound on the negative log-likelihood. ``beta_joint`` scales the joint KL
relative to β (values below 1 make describing the team in z^ω cheaper than repeating it per agent).
``hierarchical=False`` gives the flat baseline: no z^ω, p(z^α_i) = N(0, I).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from envs.config import check_choice, check_range

ENCODERS = ("gru", "transformer")


@dataclass(frozen=True)
class MohbaModelConfig:
    """Sizes and switches of the MOHBA model (serialised next to the weights)."""

    feature_dim: int
    """F, per-agent step feature width (see ``analysis.mohba.features``)."""
    num_actions: int
    """A, number of discrete actions."""
    hidden: int = 64
    """Width of the step embedding, the sequence encoder and the MLPs."""
    z_joint: int = 8
    """Dimension of the joint latent z^ω."""
    z_local: int = 8
    """Dimension of each local latent z^α_i."""
    encoder: str = "gru"
    """Per-agent sequence encoder: ``gru`` or ``transformer``."""
    layers: int = 1
    """Layers of the sequence encoder."""
    heads: int = 4
    """Attention heads (transformer only; must divide ``hidden``)."""
    max_len: int = 1024
    """Longest window the transformer's positional table covers."""
    prior_components: int = 4
    """K, Gaussian components of the conditional prior p(z^α_i | z^ω)."""
    shared_components: bool = False
    """Prior components' means and variances are learned constants shared by all teams; only their
    weights depend on z^ω (a team is then a mixture over one vocabulary of agent behaviours)."""
    beta_joint: float = 0.5
    """Weight of the joint KL relative to β (below 1 favours describing the team once in z^ω)."""
    hierarchical: bool = True
    """False gives the flat VAE baseline (no z^ω, standard normal prior on z^α)."""
    predict_next: bool = False
    """Also predict the next step's features from (o_t, a_t, z^α) (Gaussian, unit variance)."""
    next_weight: float = 1.0
    """Weight of the next-feature term in the reconstruction."""
    decoder_dropout: float = 0.5
    """Training only: probability that the decoder sees no observation at a step (features set to 0,
    the standardised mean), so it must predict the action from z^α alone (Bowman et al. 2016's word
    dropout against posterior collapse: scripted or trained policies are near-deterministic in
    their observation, which would otherwise leave z^α unused)."""

    def __post_init__(self) -> None:
        check_choice("encoder", self.encoder, ENCODERS)
        for name in ("feature_dim", "num_actions", "hidden", "z_joint", "z_local", "layers", "heads", "max_len", "prior_components"):
            check_range(name, getattr(self, name), 1)
        check_range("decoder_dropout", self.decoder_dropout, 0.0, 1.0)
        if self.encoder == "transformer" and self.hidden % self.heads:
            raise ValueError(f"hidden={self.hidden} must be divisible by heads={self.heads}")


@dataclass
class MohbaOutput:
    """Named outputs of ``MohbaModel.forward``; scalars are means over windows."""

    loss: torch.Tensor
    """β-weighted negative ELBO (plus the next-feature term when enabled)."""
    reconstruction: torch.Tensor
    """Action negative log-likelihood summed over agents and valid steps."""
    kl_per_level: dict[str, torch.Tensor]
    """``joint``: KL of q(z^ω); ``local``: Σ_i KL of q(z^α_i) against its prior."""
    next_features: torch.Tensor
    """Next-feature squared error (0 when disabled)."""
    logits: torch.Tensor
    """(B, L, N, A) action logits of the decoder."""
    mu_local: torch.Tensor
    """(B, N, z_local) posterior means of z^α."""
    logvar_local: torch.Tensor
    """(B, N, z_local)."""
    mu_joint: torch.Tensor | None
    """(B, z_joint) posterior means of z^ω (None when flat)."""
    logvar_joint: torch.Tensor | None
    """(B, z_joint)."""


def mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    """Two-layer MLP with a ReLU."""
    return nn.Sequential(nn.Linear(inp, hidden), nn.ReLU(), nn.Linear(hidden, out))


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor) -> torch.Tensor:
    """KL[N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p)] summed over the last axis (closed form, ≥ 0)."""
    kl = 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0)
    return kl.sum(-1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Mean of ``x`` over ``dim`` where ``mask`` (broadcastable, bool) is true."""
    m = mask.to(x.dtype)
    return (x * m).sum(dim) / m.sum(dim).clamp_min(1.0)


class SequenceEncoder(nn.Module):
    """(B', L, H) step embeddings → (B', H) summaries: GRU or transformer, then a masked mean."""

    def __init__(self, config: MohbaModelConfig) -> None:
        super().__init__()
        h = config.hidden
        self.kind = config.encoder
        if self.kind == "gru":
            self.rnn = nn.GRU(h, h, num_layers=config.layers, batch_first=True)
        else:
            layer = nn.TransformerEncoderLayer(h, config.heads, dim_feedforward=2 * h, dropout=0.0, batch_first=True)
            self.transformer = nn.TransformerEncoder(layer, num_layers=config.layers, enable_nested_tensor=False)
            self.position = nn.Parameter(torch.randn(config.max_len, h) * 0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x (B', L, H), mask (B', L) bool
        if self.kind == "gru":
            out, _ = self.rnn(x)
        else:
            length = x.shape[1]
            if length > self.position.shape[0]:
                raise ValueError(f"window of {length} steps exceeds the transformer's max_len {self.position.shape[0]}")
            out = self.transformer(x + self.position[:length], src_key_padding_mask=~mask)
        return masked_mean(out, mask[..., None], dim=1)


class MohbaModel(nn.Module):
    """Hierarchical (or flat) sequential VAE over multi-agent windows. See the module docstring."""

    def __init__(self, config: MohbaModelConfig) -> None:
        super().__init__()
        self.config = config
        c, h = config, config.hidden
        self.step_embed = nn.Sequential(nn.Linear(c.feature_dim + c.num_actions, h), nn.ReLU())
        self.sequence = SequenceEncoder(c)
        self.local_head = nn.Linear(h, 2 * c.z_local)
        self.decoder = nn.Sequential(
            nn.Linear(c.feature_dim + c.z_local, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, c.num_actions)
        )
        if c.hierarchical:
            self.pool_phi = mlp(h, h, h)
            self.pool_rho = mlp(2 * h, h, 2 * c.z_joint)
            per_component = 1 if c.shared_components else 2 * c.z_local + 1
            self.cond_prior = mlp(c.z_joint, h, c.prior_components * per_component)
            if c.shared_components:
                self.prior_means = nn.Parameter(torch.randn(c.prior_components, c.z_local))
                self.prior_logvars = nn.Parameter(torch.zeros(c.prior_components, c.z_local))
        if c.predict_next:
            self.next_head = mlp(c.feature_dim + c.num_actions + c.z_local, h, c.feature_dim)

    def _agent_embeddings(self, features: torch.Tensor, actions: torch.Tensor, step_mask: torch.Tensor) -> torch.Tensor:
        """(B, L, N, F), (B, L, N), (B, L) → per-agent summaries e_i (B, N, H)."""
        b, length, n, _ = features.shape
        onehot = F.one_hot(actions.clamp(0, self.config.num_actions - 1), self.config.num_actions).to(features.dtype)
        x = self.step_embed(torch.cat([features, onehot], dim=-1))  # (B, L, N, H)
        x = x.permute(0, 2, 1, 3).reshape(b * n, length, -1)
        m = step_mask[:, None, :].expand(b, n, length).reshape(b * n, length)
        return self.sequence(x, m).reshape(b, n, -1)

    def _pool(self, e: torch.Tensor, agent_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Permutation-invariant q(z^ω | τ): mean and max of φ(e_i) over present agents, then ρ."""
        phi = self.pool_phi(e)  # (B, N, H)
        mean = masked_mean(phi, agent_mask[..., None], dim=1)
        maxed = phi.masked_fill(~agent_mask[..., None], float("-inf")).amax(dim=1)
        stats = self.pool_rho(torch.cat([mean, maxed], dim=-1))
        mu, logvar = stats.chunk(2, dim=-1)
        return mu, logvar.clamp(-10.0, 10.0)

    def encode(
        self, features: torch.Tensor, actions: torch.Tensor, step_mask: torch.Tensor, agent_mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor | None]:
        """Posterior parameters: ``mu_local``/``logvar_local`` (B, N, z_local), ``mu_joint``/``logvar_joint`` (B, z_joint)."""
        if agent_mask is None:
            agent_mask = torch.ones(features.shape[0], features.shape[2], dtype=torch.bool, device=features.device)
        e = self._agent_embeddings(features, actions, step_mask)
        mu_l, logvar_l = self.local_head(e).chunk(2, dim=-1)
        out: dict[str, torch.Tensor | None] = {
            "mu_local": mu_l,
            "logvar_local": logvar_l.clamp(-10.0, 10.0),
            "mu_joint": None,
            "logvar_joint": None,
        }
        if self.config.hierarchical:
            out["mu_joint"], out["logvar_joint"] = self._pool(e, agent_mask)
        return out

    def forward(
        self,
        features: torch.Tensor,
        actions: torch.Tensor,
        step_mask: torch.Tensor,
        agent_mask: torch.Tensor | None = None,
        beta: float = 1.0,
        sample: bool = True,
    ) -> MohbaOutput:
        """Negative ELBO of a batch of windows; ``sample=False`` decodes from the posterior means."""
        b, _, n, _ = features.shape
        if agent_mask is None:
            agent_mask = torch.ones(b, n, dtype=torch.bool, device=features.device)
        post = self.encode(features, actions, step_mask, agent_mask)
        mu_l, logvar_l = post["mu_local"], post["logvar_local"]
        z_local = _sample(mu_l, logvar_l, sample)
        zero = features.new_zeros(())
        if self.config.hierarchical:
            mu_j, logvar_j = post["mu_joint"], post["logvar_joint"]
            z_joint = _sample(mu_j, logvar_j, sample)
            kl_joint = gaussian_kl(mu_j, logvar_j, torch.zeros_like(mu_j), torch.zeros_like(logvar_j))
            kl_local = self._mixture_kl(mu_l, logvar_l, z_joint)
        else:
            kl_joint = features.new_zeros(b)
            kl_local = gaussian_kl(mu_l, logvar_l, torch.zeros_like(mu_l), torch.zeros_like(logvar_l))
        kl_local = (kl_local * agent_mask).sum(-1)
        valid = step_mask[:, :, None] & agent_mask[:, None, :]  # (B, L, N)
        z_steps = z_local[:, None].expand(-1, features.shape[1], -1, -1)
        seen = features
        if self.training and self.config.decoder_dropout > 0:
            keep = torch.rand(features.shape[:-1], device=features.device) >= self.config.decoder_dropout
            seen = features * keep[..., None]
        logits = self.decoder(torch.cat([seen, z_steps], dim=-1))
        nll = F.cross_entropy(logits.flatten(0, 2), actions.flatten().clamp(0, self.config.num_actions - 1), reduction="none")
        reconstruction = (nll.view(valid.shape) * valid).sum((1, 2))
        next_err = self._next_error(features, actions, z_steps, valid) if self.config.predict_next else zero
        kl_j, kl_l = kl_joint.mean(), kl_local.mean()
        recon = reconstruction.mean()
        loss = recon + self.config.next_weight * next_err + beta * (self.config.beta_joint * kl_j + kl_l)
        return MohbaOutput(
            loss=loss,
            reconstruction=recon,
            kl_per_level={"joint": kl_j, "local": kl_l},
            next_features=next_err,
            logits=logits,
            mu_local=mu_l,
            logvar_local=logvar_l,
            mu_joint=post["mu_joint"],
            logvar_joint=post["logvar_joint"],
        )

    def prior_parameters(self, z_joint: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mixture prior of z^α given z^ω (B, z_joint): log-weights (B, K), means and log-variances (B, K, z_local)."""
        k, d = self.config.prior_components, self.config.z_local
        raw = self.cond_prior(z_joint)
        log_pi = F.log_softmax(raw[:, :k], dim=-1)
        if self.config.shared_components:
            b = z_joint.shape[0]
            return log_pi, self.prior_means.expand(b, k, d), self.prior_logvars.clamp(-10.0, 10.0).expand(b, k, d)
        mu, logvar = raw[:, k:].view(-1, k, 2 * d).chunk(2, dim=-1)
        return log_pi, mu, logvar.clamp(-10.0, 10.0)

    def _mixture_kl(self, mu_l: torch.Tensor, logvar_l: torch.Tensor, z_joint: torch.Tensor) -> torch.Tensor:
        """(B, N) variational upper bound of KL[q(z^α_i) || p(z^α_i | z^ω)] (module docstring)."""
        log_pi, mu_p, logvar_p = self.prior_parameters(z_joint)
        kl = gaussian_kl(mu_l[:, :, None], logvar_l[:, :, None], mu_p[:, None], logvar_p[:, None])  # (B, N, K)
        return -torch.logsumexp(log_pi[:, None] - kl, dim=-1)

    def _next_error(self, features: torch.Tensor, actions: torch.Tensor, z_steps: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Half squared error of predicting o_{t+1} from (o_t, a_t, z^α), summed per window, mean over windows."""
        onehot = F.one_hot(actions.clamp(0, self.config.num_actions - 1), self.config.num_actions).to(features.dtype)
        pred = self.next_head(torch.cat([features[:, :-1], onehot[:, :-1], z_steps[:, :-1]], dim=-1))
        both = valid[:, :-1] & valid[:, 1:]
        err = 0.5 * ((pred - features[:, 1:]) ** 2).sum(-1)
        return (err * both).sum((1, 2)).mean()


def _sample(mu: torch.Tensor, logvar: torch.Tensor, sample: bool) -> torch.Tensor:
    if not sample:
        return mu
    return mu + torch.randn_like(mu) * (0.5 * logvar).exp()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
