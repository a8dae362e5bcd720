"""`nn.optim.adam`: the fused kernel, with the per-tensor Adam's update rule."""

import torch

from tissue_mib.nn.optim import adam


def _train(make_opt, *, scaler_dtype=None, steps=25):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.GELU(), torch.nn.Linear(16, 3))
    opt = make_opt(net.parameters())
    scaler = torch.amp.GradScaler("cpu", enabled=scaler_dtype == torch.float16)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(32, 12, generator=gen), torch.randint(3, (32,), generator=gen)
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=scaler_dtype or torch.bfloat16, enabled=scaler_dtype is not None):
            loss = torch.nn.functional.cross_entropy(net(x).float(), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    return opt, torch.cat([p.detach().flatten() for p in net.parameters()])


def test_adam_is_fused_and_matches_the_reference_update():
    opt, fused = _train(lambda p: adam(p, lr=1e-2, weight_decay=0.1))
    assert opt.param_groups[0]["fused"] is True
    _, reference = _train(lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=0.1, foreach=False))
    start = _train(lambda p: adam(p, lr=1e-2), steps=0)[1]
    assert (fused - start).abs().max() > 1e-2  # it trained
    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-6)


def test_adam_steps_under_the_fp16_gradient_scaler():
    _, fused = _train(lambda p: adam(p, lr=1e-2), scaler_dtype=torch.float16)
    _, reference = _train(lambda p: torch.optim.Adam(p, lr=1e-2, foreach=False), scaler_dtype=torch.float16)
    assert torch.isfinite(fused).all()
    torch.testing.assert_close(fused, reference, rtol=1e-4, atol=1e-5)
