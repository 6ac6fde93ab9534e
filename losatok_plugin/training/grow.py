"""Grow a trained Vocos decoder without changing what it computes (Net2Net / ReZero style).

A small decoder that has stopped improving can be given more capacity and trained on, instead of
training a larger one from scratch (days on a CPU). Two function-preserving moves:

- **wider MLPs**: every ConvNeXt block's ``pwconv1`` gains rows (random, as at initialisation) and
  ``pwconv2`` gains the matching columns, set to zero: the new hidden units add nothing until trained,
  and their gradients are not zero (``pwconv2``'s new columns see ``gelu(new units)``);
- **more blocks**: new ConvNeXt blocks are inserted evenly between the old ones with layer scale
  ``gamma = 0``: each is the identity until its ``gamma`` moves (its gradient is not zero).

A third move, :func:`widen_decoder`, multiplies the residual width (``decoder_dim``) by an integer ``k``
(Net2WiderNet): every residual channel is repeated ``k`` times, so each LayerNorm sees the same mean and
variance as before, and every layer that reads the stream (``pwconv1``, the ISTFT head's ``out``) takes
``W / k`` on each copy plus a random term that sums to zero over the copies. The copies are equal at the
start, so the output is unchanged; the zero-sum terms give the copies different gradients, so they part
when trained. The ISTFT head's projection, rank ``decoder_dim`` over ``n_fft + 2`` outputs, grows with it.
The grown decoder's audio equals the old one's to float32 rounding (both functions check it).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ..models.losatok_vae import LoSATokVAE
from ..nn.convnext import ConvNeXtBlock

INIT_STD = 0.02  # the backbone's own initialisation (VocosBackbone)


def _widen_block(old: ConvNeXtBlock, intermediate_dim: int, generator: torch.Generator) -> ConvNeXtBlock:
    dim, old_inter = old.pwconv1.in_features, old.pwconv1.out_features
    new = ConvNeXtBlock(dim, intermediate_dim, layer_scale_init=0.0)
    with torch.no_grad():
        new.dwconv.load_state_dict(old.dwconv.state_dict())
        new.norm.load_state_dict(old.norm.state_dict())
        new.gamma.copy_(old.gamma)
        w1 = torch.randn(intermediate_dim, dim, generator=generator) * INIT_STD
        w1[:old_inter] = old.pwconv1.weight
        b1 = torch.zeros(intermediate_dim)
        b1[:old_inter] = old.pwconv1.bias
        w2 = torch.zeros(dim, intermediate_dim)
        w2[:, :old_inter] = old.pwconv2.weight
        new.pwconv1.weight.copy_(w1)
        new.pwconv1.bias.copy_(b1)
        new.pwconv2.weight.copy_(w2)
        new.pwconv2.bias.copy_(old.pwconv2.bias)
    return new


def _identity_block(dim: int, intermediate_dim: int, generator: torch.Generator) -> ConvNeXtBlock:
    block = ConvNeXtBlock(dim, intermediate_dim, layer_scale_init=0.0)
    with torch.no_grad():
        for lin in (block.pwconv1, block.pwconv2):
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=generator) * INIT_STD)
            lin.bias.zero_()
        block.dwconv.weight.copy_(torch.randn(block.dwconv.weight.shape, generator=generator) * INIT_STD)
        block.dwconv.bias.zero_()
    return block


def insertion_points(old_depth: int, new_depth: int) -> list[int]:
    """Old-block indices after which each new block goes, spread evenly over ``0 .. old_depth - 1``."""
    extra = new_depth - old_depth
    return [-(-(k + 1) * old_depth // (extra + 1)) - 1 for k in range(extra)]  # ceil((k+1)·old/(extra+1)) - 1


def _check_same(vae: LoSATokVAE, grown: LoSATokVAE, frames: int, gen: torch.Generator) -> None:
    z = torch.randn(2, vae.config["latent_channels"], frames, generator=gen)
    with torch.no_grad():
        a, b = vae.decoder(z.to(next(vae.parameters()).dtype)), grown.decoder(z.to(next(grown.parameters()).dtype))
    err = (a - b).abs().max().item() / max(a.abs().max().item(), 1e-8)
    if err > 1e-4:
        raise ConfigError(f"grown decoder differs from the original (max relative error {err:.2e})")


def _split_inputs(weight: torch.Tensor, factor: int, gen: torch.Generator) -> torch.Tensor:
    """``[out, dim] -> [out, factor·dim]``: ``weight / factor`` per copy plus noise summing to 0 over copies."""
    noise = torch.randn(factor, *weight.shape, generator=gen) * INIT_STD
    noise = noise - noise.mean(dim=0, keepdim=True)
    return torch.cat([weight / factor + noise[j].to(weight.dtype) for j in range(factor)], dim=1)


def widen_decoder(vae: LoSATokVAE, factor: int, seed: int = 0, check_frames: int = 16) -> LoSATokVAE:
    """A copy of ``vae`` whose decoder's residual width (``decoder_dim``) is ``factor`` times larger.

    Shapes: ``decoder_dim`` D -> ``factor·D``; every ``[D]`` parameter (LayerNorms, depthwise convs,
    ``gamma``, ``pwconv2`` rows, the input conv's output channels) is tiled ``factor`` times; ``pwconv1``
    ``[I, D]`` and the head's ``out`` ``[n_fft + 2, D]`` become ``[., factor·D]`` (module docstring).
    Everything outside the decoder's backbone and head is copied unchanged.

    Args:
        vae: the trained model (not modified).
        factor: integer width multiplier, ≥ 1.
        seed: seed of the zero-sum symmetry-breaking terms.
        check_frames: latent frames of the equality check; 0 skips it.

    Raises:
        ConfigError: a factor below 1, or a widened decoder whose audio differs.
    """
    if not isinstance(factor, int) or factor < 1:
        raise ConfigError(f"widen_decoder needs an integer factor >= 1, got {factor!r}")
    gen = torch.Generator().manual_seed(seed)
    cfg = {k: v for k, v in dict(vae.config).items() if not k.startswith("_")}
    new_cfg = dict(cfg, decoder_dim=cfg["decoder_dim"] * factor)
    grown = LoSATokVAE(**new_cfg)
    state = dict(vae.state_dict())
    tile = {  # parameters whose first axis is the residual width: repeat the channels
        "decoder.backbone.embed.weight",
        "decoder.backbone.embed.bias",
        "decoder.backbone.norm.weight",
        "decoder.backbone.norm.bias",
        "decoder.backbone.final_layer_norm.weight",
        "decoder.backbone.final_layer_norm.bias",
    }
    for key in list(state):
        if key.startswith("decoder.backbone.convnext."):
            name = key.split(".", 4)[4]
            if name.startswith(("dwconv.", "norm.", "pwconv2.", "gamma")):
                tile.add(key)
    for key in tile:
        state[key] = torch.cat([state[key]] * factor, dim=0)
    readers = [k for k in state if k.startswith("decoder.backbone.convnext.") and k.endswith("pwconv1.weight")]
    for key in readers + ["decoder.head.out.weight"]:
        state[key] = _split_inputs(state[key], factor, gen)
    grown.load_state_dict(state, strict=True)
    grown.to(next(vae.parameters()).dtype)
    if check_frames:
        _check_same(vae, grown, check_frames, gen)
    return grown


def grow_decoder(
    vae: LoSATokVAE, intermediate_dim: int, depth: int, seed: int = 0, check_frames: int = 16
) -> LoSATokVAE:
    """A copy of ``vae`` whose decoder has ``depth`` ConvNeXt blocks of MLP width ``intermediate_dim``.

    Everything else (teacher, SemBo, acoustic branch, Gaussian head, ISTFT head) is copied unchanged.

    Args:
        vae: the trained model (not modified).
        intermediate_dim: new ConvNeXt MLP width, ≥ the old one.
        depth: new number of blocks, ≥ the old one.
        seed: seed of the new (random) weights.
        check_frames: latent frames of the equality check (random latents ``[2, C, check_frames]``);
            0 skips it.

    Raises:
        ConfigError: a size smaller than the model's, or a grown decoder whose audio differs.
    """
    cfg = dict(vae.config)
    old_inter, old_depth = cfg["decoder_intermediate_dim"], cfg["decoder_depth"]
    smaller = [
        f"{name} {new} < {old}"
        for name, new, old in (("intermediate_dim", intermediate_dim, old_inter), ("depth", depth, old_depth))
        if new < old
    ]
    if smaller:
        raise ConfigError(f"grow_decoder only grows: {', '.join(smaller)} (the model's)")
    gen = torch.Generator().manual_seed(seed)
    old_blocks = vae.decoder.backbone.convnext
    dim = old_blocks[0].pwconv1.in_features
    after = insertion_points(old_depth, depth)
    blocks: list[nn.Module] = []
    for i, block in enumerate(old_blocks):
        blocks.append(_widen_block(block, intermediate_dim, gen))
        blocks.extend(_identity_block(dim, intermediate_dim, gen) for _ in range(after.count(i)))
    new_cfg = {k: v for k, v in cfg.items() if not k.startswith("_")}
    new_cfg.update(decoder_intermediate_dim=intermediate_dim, decoder_depth=depth)
    grown = LoSATokVAE(**new_cfg)
    state = dict(vae.state_dict())  # load_state_dict copies the values: vae is not touched
    for key in [k for k in state if k.startswith("decoder.backbone.convnext.")]:
        del state[key]
    for i, block in enumerate(blocks):
        for name, value in block.state_dict().items():
            state[f"decoder.backbone.convnext.{i}.{name}"] = value
    grown.load_state_dict(state, strict=True)
    grown.to(next(vae.parameters()).dtype)
    if check_frames:
        _check_same(vae, grown, check_frames, gen)
    return grown
