"""Method-specific checks: SVDD safety, the shared centre, OMIB phases and beta, IBMA
pseudo-classes and prototypes, where the MIB variants put their KL terms, input errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tissue_mib.errors import InputError
from tissue_mib.methods import METHODS, build_method
from tissue_mib.train import BatchLoader, fit

TWO = ("genes", "histology")


def _build(tiny, name, kind="svdd", mods=TWO, **extra):
    torch.manual_seed(0)
    return build_method(
        name, modalities=tiny.modality_specs(mods), task=tiny.TASK[kind], **{**tiny.params_for(name), **extra}
    )


def _loader(tiny, kind="svdd", mods=TWO, *, shuffle=True):
    return BatchLoader(tiny.tiny_data(kind, modalities=mods), batch_size=32, shuffle=shuffle, seed=0, min_batch=2)


def _svdd_methods():
    return [n for n in METHODS.names() if "svdd" in METHODS.get(n).tasks]


@pytest.mark.parametrize("name", _svdd_methods())
def test_no_bias_or_affine_under_svdd(name, tiny):
    mods = ("histology",) if name == "histo-svdd" else (("genes",) if name in ("single", "gene-svdd") else TWO)
    method = _build(tiny, name, mods=mods)
    names = [n for n, _ in method.named_parameters()]
    assert not [n for n in names if "bias" in n], f"{name} has bias parameters"
    for mod_name, module in method.named_modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)):
            assert not module.affine, f"{name}: affine norm at {mod_name}"
        if isinstance(module, nn.LayerNorm):
            assert not module.elementwise_affine, f"{name}: affine LayerNorm at {mod_name}"


@pytest.mark.parametrize("name", ["omib", "ibma", "c-mib", "l-mib"])
def test_one_centre_shared_by_all_heads(name, tiny):
    method = _build(tiny, name)
    loader = _loader(tiny, shuffle=False)  # the same batches (and batch statistics) each pass
    torch.manual_seed(1)  # OMIB's training-mode pass draws its VAE noise: the same draws below
    method.setup(loader)
    centres = [h.center for h in method.heads().values()]
    assert len(centres) == 3  # fused head + one per modality
    for c in centres[1:]:
        assert torch.equal(c, centres[0])
    assert (centres[0].abs() >= 0.1 - 1e-7).all()
    assert bool(method.center_ready)
    # the centre is the mean of every head's initial output (training-mode statistics), clamped
    method.train()
    torch.manual_seed(1)
    with torch.no_grad():
        outs = [p for b in loader for p in method.inference(b)[0].values()]
    mean = torch.cat(outs).mean(0)
    expected = torch.where(mean.abs() < 0.1, torch.where(mean < 0, -0.1, 0.1), mean)
    torch.testing.assert_close(centres[0], expected)
    # setup again (as on resume) keeps the centre
    before = centres[0].clone()
    with torch.no_grad():
        for p in method.parameters():
            p.add_(1.0)
    method.setup(loader)
    assert torch.equal(method.head.center, before)


def test_omib_phases_beta_bounds_and_r(tiny):
    method = _build(tiny, "omib")
    assert method.phases == ("warmup", "main")
    history = fit(method, tiny.tiny_data("svdd", modalities=TWO), config=tiny.train_config("omib", epochs=2))
    beta, M_l, M_u = float(method.beta), float(method.M_l), float(method.M_u)
    assert 0 < M_l <= beta <= M_u
    warm = [r for r in history.records if r["phase"] == "warmup"]
    main = [r for r in history.records if r["phase"] == "main"]
    assert len(warm) == 2 and len(main) == 2
    assert "r" not in warm[0] and "trb_genes" in warm[0] and "trb_histology" in warm[0]
    for rec in main:
        assert 0 < rec["r"] < 2
        assert rec["beta"] == pytest.approx(beta) and rec["M_l"] == pytest.approx(M_l) and rec["M_u"] == pytest.approx(M_u)
        assert {"task", "kl_genes", "kl_histology", "trb_genes", "trb_histology"} <= rec.keys()
    assert 0 < float(method.r[0]) < 2


def test_omib_user_beta_and_warmup_touches_only_trbs(tiny):
    method = _build(tiny, "omib", beta=0.05)
    loader = _loader(tiny)
    method.setup(loader)
    assert float(method.beta) == pytest.approx(0.05)
    assert np.isfinite(float(method.M_u))  # bounds still estimated and logged
    batch = next(iter(loader))
    method.train()
    method.training_loss(batch, "warmup")["loss"].backward()
    assert all(p.grad is None for p in method.vaes.parameters())
    assert all(p.grad is None for p in method.can.parameters())
    assert all(p.grad is None for p in method.head.parameters())
    assert all(p.grad is not None for p in method.modality_heads.parameters())
    with pytest.raises(InputError, match="phases"):
        method.training_loss(batch, "finetune")


def test_omib_three_modalities_has_two_r(tiny):
    mods = ("genes", "histology", "audio")
    method = _build(tiny, "omib", mods=mods)
    loader = _loader(tiny, mods=mods)
    method.setup(loader)
    method.train()
    terms = method.training_loss(next(iter(loader)), "main")
    assert {"r_1", "r_2", "kl_audio", "trb_audio"} <= terms.keys()
    assert float(method.M_l) <= float(method.beta) <= float(method.M_u)


def test_omib_clips_mine_estimates_to_valid_mutual_information(tiny, monkeypatch):
    """MI estimates above the entropies (estimator error) made sum H - sum I negative and the
    three-modality M_u negative; MI is clipped to [0, min(H_i, H_j)] and sum H - sum I
    floored at max H_i."""
    import tissue_mib.methods.omib as omib_module

    monkeypatch.setattr(omib_module, "entropy", lambda x, **kw: 2.0)
    monkeypatch.setattr(omib_module, "estimate_mi", lambda x, y, **kw: 5.0)
    mods = ("genes", "histology", "audio")
    method = _build(tiny, "omib", mods=mods)
    method.setup(_loader(tiny, mods=mods))
    assert float(method.M_l) == pytest.approx(1 / (5 * 6.0))
    assert float(method.M_u) == pytest.approx(1 / (5 * 2.0))  # floor: max H = 2
    assert float(method.M_l) <= float(method.beta) <= float(method.M_u)


def test_omib_per_modality_scores_use_mean_xi(tiny):
    method = _build(tiny, "omib")
    loader = _loader(tiny)
    method.setup(loader)
    batch = next(iter(loader))
    assert torch.equal(method.xi_mean, torch.zeros(method.k))  # warm-up form: e at its mean 0
    method.train()
    method.training_loss(batch, "main")
    assert method.xi_mean.abs().sum() > 0  # running mean of xi over main-phase batches
    method.eval()
    out = method.predict(batch)
    z = method.encode(batch)["genes"]
    other = dict(batch, histology=torch.zeros_like(batch["histology"]))
    with torch.no_grad():
        expected = method.modality_heads["genes"](torch.cat([z, method.xi_mean.expand(len(z), -1)], dim=1))
    torch.testing.assert_close(out["score_genes"], method.head.score(expected))
    # score_genes depends on the genes alone
    torch.testing.assert_close(method.predict(other)["score_genes"], out["score_genes"])
    assert {"score", "score_genes", "score_histology", "latent"} == out.keys()
    z_all = method.encode(batch)
    torch.testing.assert_close(out["latent"], torch.cat([z_all[m] for m in method.used_modalities], dim=1))


def test_omib_svdd_score_is_the_task_terms_over_fixed_draws(tiny):
    method = _build(tiny, "omib", draws=4)
    fit(method, tiny.tiny_data("svdd", modalities=TWO), config=tiny.train_config("omib", epochs=1))
    method.eval()
    batch = next(iter(_loader(tiny, shuffle=False)))
    out = method.predict(batch)
    z = method.encode(batch)
    post, _ = method._posteriors(z)
    expected = torch.zeros(len(batch["target"]))
    with torch.no_grad():
        for s in range(4):
            zetas = [mu + std * method.draws[s, i] for i, (mu, std) in enumerate(post)]
            xi = method.can(zetas)
            expected += method.head.score(method.head(xi))
            for m in TWO:
                expected += method.modality_heads[m].score(method._trb(m, z[m], xi))
    torch.testing.assert_close(out["score"], expected / 4)
    # the same rows in other batches get the same scores: the draws are shared by all rows
    small = next(iter(BatchLoader(tiny.tiny_data("svdd", modalities=TWO), batch_size=8, min_batch=2)))
    torch.testing.assert_close(method.predict(small)["score"], out["score"][:8])
    # other tasks predict with zeta = mu
    clf = _build(tiny, "omib", kind="multiclass", draws=3)
    clf.setup(_loader(tiny, "multiclass"))
    clf.eval()
    b = next(iter(_loader(tiny, "multiclass", shuffle=False)))
    logits = clf.predict(b)["logits"]
    with torch.no_grad():
        post, _ = clf._posteriors(clf.encode(b))
        at_mu = clf.head(clf.can([mu for mu, _ in post]))
    torch.testing.assert_close(logits, at_mu)


def test_omib_refuses_a_non_positive_entropy_estimate(tiny, monkeypatch):
    import tissue_mib.methods.omib as omib_module

    monkeypatch.setattr(omib_module, "entropy", lambda x, **kw: -1.1)
    method = _build(tiny, "omib")
    with pytest.raises(InputError, match="entropy estimate of modality 'genes' is -1.1 <= 0.*mine_steps"):
        method.setup(_loader(tiny))


def test_refresh_batchnorm_gives_the_final_weights_statistics(tiny):
    """After fit, each BatchNorm's running mean is the mean of its batch means over the
    training batches under the final weights (not the lagging training average)."""
    method = _build(tiny, "concat-svdd")
    data = tiny.tiny_data("svdd", modalities=TWO)
    fit(method, data, config=tiny.train_config("concat-svdd", epochs=2))
    norms = {n: m for n, m in method.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    assert norms
    seen = {n: [] for n in norms}
    hooks = [
        m.register_forward_hook(lambda mod, args, out, n=n: seen[n].append(args[0].transpose(0, 1).flatten(1).mean(1)))
        for n, m in norms.items()
    ]
    running = {n: m.running_mean.clone() for n, m in norms.items()}
    method.train()
    with torch.no_grad():
        for batch in BatchLoader(data, batch_size=32, min_batch=2):
            method.inference(batch)
    for h in hooks:
        h.remove()
    for n in norms:
        torch.testing.assert_close(running[n], torch.stack(seen[n]).mean(0), rtol=1e-4, atol=1e-5)


def test_ibma_pseudo_classes_deterministic_and_shared(tiny):
    a, b, c = (_build(tiny, "ibma", seed=s) for s in (0, 0, 1))
    loader = _loader(tiny)
    for m in (a, b, c):
        m.setup(loader)
    la, lb = a._labeller.labels, b._labeller.labels
    assert torch.equal(la, lb)
    assert len(torch.unique(la)) == 3
    # a batch gets the same labels as the shared labelling of its rows
    batch = next(iter(loader))
    assert torch.equal(a.labels(batch), la[batch["index"]])
    # both modalities enter the clustering
    assert set(a._labeller.pcas) == set(TWO)


def test_ibma_prototypes_and_Q(tiny):
    method = _build(tiny, "ibma")
    loader = _loader(tiny)
    method.setup(loader)
    method.on_epoch_start(loader, 0)
    C = method.n_classes
    assert torch.allclose(method._stats["Q_fused"], torch.full((C, C), 1 / C))
    assert method._stats["F_genes"].shape == (C, 16)
    method.train()
    terms = method.training_loss(next(iter(loader)), "main")
    assert {"task", "task_genes", "task_histology", "ibb_genes", "ibb_histology", "ibb_fuse"} <= terms.keys()
    method.on_epoch_start(loader, 1)
    Q = method._stats["Q_genes"]
    torch.testing.assert_close(Q.sum(1), torch.ones(C))
    assert not torch.allclose(Q, torch.full((C, C), 1 / C))


def test_ibma_multiclass_uses_labels(tiny):
    method = _build(tiny, "ibma", kind="multiclass")
    loader = _loader(tiny, kind="multiclass")
    method.setup(loader)
    assert method._labeller is None and method.n_classes == tiny.N_CLASSES
    batch = next(iter(loader))
    assert torch.equal(method.labels(batch), batch["y"])


@pytest.mark.parametrize(
    ("name", "kls"),
    [
        ("e-mib", {"kl_fused"}),
        ("l-mib", {"kl_genes", "kl_histology"}),
        ("c-mib", {"kl_fused", "kl_genes", "kl_histology"}),
    ],
)
def test_mib_kl_terms_where_the_paper_puts_them(name, kls, tiny):
    method = _build(tiny, name, kind="regression")
    loader = _loader(tiny, kind="regression")
    method.train()
    terms = method.training_loss(next(iter(loader)), "main")
    assert {k for k in terms if k.startswith("kl_")} == kls
    per_modality = {k for k in terms if k.startswith("task_")}
    assert per_modality == ({"task_genes", "task_histology"} if name != "e-mib" else set())
    expected = sum(v for k, v in terms.items() if k.startswith("task")) + 1e-3 * sum(terms[k] for k in kls)
    torch.testing.assert_close(terms["loss"].detach(), expected)


def test_encode_under_bf16_returns_fp32(tiny):
    method = _build(tiny, "concat-svdd")
    method.amp_dtype = torch.bfloat16
    batch = next(iter(_loader(tiny)))
    z = method.encode(batch)
    assert all(v.dtype == torch.float32 and v.shape == (32, 16) for v in z.values())


def test_config_round_trip(tiny):
    for name in METHODS.names():
        mods = ("histology",) if name == "histo-svdd" else (("genes",) if name in ("single", "gene-svdd") else TWO)
        m = _build(tiny, name, mods=mods)
        assert build_method(**m.config()).config() == m.config()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda t: _build(t, "gene-svdd", kind="multiclass", mods=("genes",)), "does not support task kind"),
        (lambda t: _build(t, "ibma", mods=("genes", "histology", "audio")), "takes 2 modalities"),
        (lambda t: _build(t, "concat", mods=("genes",)), "takes 2 or 3 modalities"),
        (lambda t: _build(t, "gene-svdd", modality="histology"), "uses modality 'genes'"),
        (lambda t: _build(t, "single", mods=TWO), "name the modality"),
        (lambda t: _build(t, "omib", beta=-1.0), "'beta'"),
        (lambda t: build_method("nope", modalities={"genes": {"encoder": "gcn"}}, task={"kind": "svdd"}), "unknown method"),
        (lambda t: build_method("concat", modalities={"genes": {"in_dim": 3}}, task={"kind": "svdd"}), "needs an 'encoder'"),
        (lambda t: _build(t, "concat", order=["genes", "audio"]), "'order'"),
    ],
)
def test_bad_input_raises_input_error(call, match, tiny):
    with pytest.raises(InputError, match=match):
        call(tiny)


def test_missing_modality_in_batch(tiny):
    method = _build(tiny, "concat-svdd")
    batch = next(iter(_loader(tiny)))
    del batch["histology"]
    with pytest.raises(InputError, match="histology"):
        method.encode(batch)
