"""The SegGPT model: canvas embedding, a ViT encoder with a stream merge, and a multi-layer decoder."""

from __future__ import annotations

import contextlib
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from seggpt.model.config import SegGPTConfig
from seggpt.model.ensemble import encode_shared
from seggpt.model.layers import Block, LayerNorm2d, PatchEmbed, resize_abs_pos

SegType = Literal["instance", "semantic"]
SEMANTIC, INSTANCE = 0, 1  # the official `seg_type` codes: 0 -> type_token_cls, 1 -> type_token_ins


def seg_type_code(seg_type: str) -> int:
    """The official code of a type token name ("semantic" -> 0, "instance" -> 1); a clear error for any other."""
    if seg_type not in get_args(SegType):
        raise ValueError(f"seg_type must be 'instance' or 'semantic', got {seg_type!r}")
    return INSTANCE if seg_type == "instance" else SEMANTIC


class SegGPT(nn.Module):
    """SegGPT: in-context segmentation as inpainting of a target canvas.

    Parameter names equal the official checkpoint keys. Build it with `build_seggpt(config)`.
    """

    def __init__(self, config: SegGPTConfig):
        super().__init__()
        self.config = config
        C, p = config.embed_dim, config.patch_size
        self.patch_size = p
        self.grid_size = config.grid_size
        self.patch_embed = PatchEmbed(3, C, p)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, 1, C))
        self.segment_token_x = nn.Parameter(torch.zeros(1, 1, 1, C))  # added to the image canvas
        self.segment_token_y = nn.Parameter(torch.zeros(1, 1, 1, C))  # added to the target canvas
        self.type_token_cls = nn.Parameter(torch.zeros(1, 1, 1, C))  # semantic
        self.type_token_ins = nn.Parameter(torch.zeros(1, 1, 1, C))  # instance
        num_positions = (config.pretrain_img_size // p) ** 2 + int(config.pretrain_use_cls_token)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_positions, C))
        rates = torch.linspace(0, config.drop_path_rate, config.depth, device="cpu").tolist()  # also under meta
        self.blocks = nn.ModuleList(
            Block(
                C,
                config.num_heads,
                config.mlp_ratio,
                config.qkv_bias,
                rates[i],
                config.layer_norm_eps,
                config.use_rel_pos,
                self.grid_size,
            )
            for i in range(config.depth)
        )
        self.norm = nn.LayerNorm(C, eps=config.layer_norm_eps)
        D = config.decoder_embed_dim
        self.decoder_embed = nn.Linear(C * len(config.feature_layers), p * p * D)
        self.decoder_pred = nn.Sequential(
            nn.Conv2d(D, D, kernel_size=3, padding=1),
            LayerNorm2d(D, config.layer_norm_eps),
            nn.GELU(),
            nn.Conv2d(D, 3, kernel_size=1),
        )
        self.grad_checkpointing = False

    def default_mask(self, batch_size: int, device: torch.device | None = None) -> Tensor:
        """(B, h, w) bool patch mask with the query (bottom) half of the target canvas masked."""
        h, w = self.grid_size
        mask = torch.zeros(batch_size, h, w, dtype=torch.bool, device=device)
        mask[:, h // 2 :] = True
        return mask

    def embed(self, image_canvas: Tensor, target_canvas: Tensor, bool_masked_pos: Tensor, seg_type: Tensor) -> Tensor:
        """Tokens of both canvases stacked on the batch axis: (2B, h, w, C) = [images; targets]."""
        x = self.patch_embed(image_canvas)  # (B, h, w, C)
        y = self.patch_embed(target_canvas)
        w = bool_masked_pos.reshape((*y.shape[:3], 1)).to(y.dtype)
        y = y * (1 - w) + self.mask_token.to(y.dtype) * w
        pos = resize_abs_pos(self.pos_embed, self.config.pretrain_use_cls_token, self.grid_size)
        type_token = torch.where(
            (seg_type == INSTANCE)[:, None, None, None], self.type_token_ins, self.type_token_cls
        )  # (B, 1, 1, C)
        x = x + self.segment_token_x + pos + type_token
        y = y + self.segment_token_y + pos + type_token
        return torch.cat([x, y], dim=0)

    def encode(self, tokens: Tensor, ensemble_groups: Tensor | None = None, query_only: bool = False) -> list[Tensor]:
        """Run the blocks; return the normed outputs of the feature layers, each (B, h', w, C).

        `tokens` is (2B, h, w, C) from `embed`. With `query_only`, the last block computes only the
        query rows plus one row above (what the decoder's 3x3 conv needs), so h' = h/2 + 1 there.
        """
        cfg = self.config
        B = tokens.shape[0] // 2
        num_groups = 0
        streams_groups = None
        if ensemble_groups is not None:
            num_groups = int(ensemble_groups.max()) + 1
            streams_groups = torch.cat([ensemble_groups, ensemble_groups + num_groups])  # images, then targets
        x = tokens
        features = []
        for idx, block in enumerate(self.blocks):
            before_merge = idx <= cfg.merge_layer
            groups = streams_groups if before_merge else ensemble_groups
            n = 2 * num_groups if before_merge else num_groups
            rows = self.grid_size[0] // 2 + 1 if query_only and idx == cfg.depth - 1 and not before_merge else None
            if self.grad_checkpointing and self.training:
                x = checkpoint(block, x, groups, n, rows, use_reentrant=False)
            else:
                x = block(x, groups, n, rows)
            if idx == cfg.merge_layer:
                x = (x[:B] + x[B:]) * 0.5  # the official stream merge
            if idx in cfg.feature_layers:
                features.append(self.norm(x))
        return features

    def decode(self, features: list[Tensor]) -> Tensor:
        """Feature-layer outputs (B, h', w, C) each -> (B, 3, h'*p, w*p) target canvas, normalized space."""
        rows = features[-1].shape[1]
        x = torch.cat([f[:, -rows:] for f in features], dim=-1)
        x = self.decoder_embed(x)  # (B, h', w, p*p*D)
        B, h, w, _ = x.shape
        p = self.patch_size
        x = x.reshape(B, h, w, p, p, -1).permute(0, 5, 1, 3, 2, 4).reshape(B, -1, h * p, w * p)
        return self.decoder_pred(x)

    def forward(
        self,
        image_canvas: Tensor,
        target_canvas: Tensor,
        bool_masked_pos: Tensor | None = None,
        seg_type: SegType | Tensor = "instance",
        ensemble_groups: Tensor | None = None,
        query_only: bool = False,
        decode_index: Tensor | None = None,
        shared_query: bool = False,
    ) -> Tensor:
        """Predict the target canvas: the model's low-level call.

        Args:
            image_canvas: (B, 3, H, W) float, ImageNet-normalized; prompt image on top, query at the bottom
                (H, W) = config.image_size (896x448 released).
            target_canvas: (B, 3, H, W) float, normalized the same way; prompt target (a colour mask) on top.
                Its masked patches are never seen: fill them with anything (officially a copy of the prompt).
            bool_masked_pos: (B, h, w) or (B, h*w) bool patch mask of the target canvas, True = hidden.
                Default: the query (bottom) half.
            seg_type: "instance" (the official CLI default) or "semantic", or a (B,) int tensor with the
                official codes (0 semantic, 1 instance).
            ensemble_groups: (B,) int64 group id per canvas for the feature ensemble; canvases of one group
                share one query and average its features (ids 0..G-1). None: every canvas on its own.
                `torch.zeros(B)` is the official single-query ensemble.
            query_only: compute only the query half of the output (faster; equal to the bottom half of the
                full output).
            decode_index: (B',) int64 canvases to decode (default all): the same outputs as decoding all and
                selecting these, for a fraction of the decoder's cost. The official feature ensemble reads
                the first canvas of each group (the others differ only in the query's top row).
            shared_query: the canvases of each ensemble group have the same query half (as the feature
                ensemble builds them; checked): compute its norms, qkv and MLP once per group
                (`seggpt.model.ensemble`), the same outputs for less work (README, "The shared query").
                Needs `ensemble_groups`; evaluation mode only (in training it is ignored: stochastic depth
                drops canvases one by one).

        Returns:
            (B, 3, H, W) predicted target canvas in normalized space, or (B, 3, H/2, W) with `query_only`;
            B' instead of B with `decode_index`.
        """
        B = image_canvas.shape[0]
        expected = (B, 3, *self.config.image_size)
        if tuple(image_canvas.shape) != expected or tuple(target_canvas.shape) != expected:
            raise ValueError(
                f"expected image and target canvases of shape {expected}, got {tuple(image_canvas.shape)} and "
                f"{tuple(target_canvas.shape)}"
            )
        if bool_masked_pos is None:
            bool_masked_pos = self.default_mask(B, image_canvas.device)
        if isinstance(seg_type, str):
            seg_type = torch.full((B,), seg_type_code(seg_type), dtype=torch.long, device=image_canvas.device)
        tokens = self.embed(image_canvas, target_canvas, bool_masked_pos, seg_type)
        if shared_query and ensemble_groups is None:
            raise ValueError("shared_query needs ensemble_groups (the canvases that share a query)")
        if shared_query and ensemble_groups is not None and not self.training:
            features = encode_shared(self, tokens, ensemble_groups, query_only, decode_index)
        else:
            features = self.encode(tokens, ensemble_groups, query_only)
            if decode_index is not None:
                features = [f[decode_index] for f in features]
        out = self.decode(features)
        if query_only:
            return out[:, :, self.patch_size :]  # drop the halo row of patches
        return out

    def loss(
        self,
        pred: Tensor,
        target_canvas: Tensor,
        bool_masked_pos: Tensor,
        valid: Tensor | None = None,
        beta: float = 0.01,
    ) -> Tensor:
        """Smooth-L1 (beta 0.01, the reference) over the pixels of masked patches times `valid`, over their count.

        Args:
            pred, target_canvas: (B, 3, H, W) normalized canvases.
            bool_masked_pos: (B, h, w) or (B, h*w) bool, True = masked (counted in the loss).
            valid: (B, 3, H, W) or (B, 1, H, W) weights in {0, 1}; 0 for ignore pixels. Default all 1.
            beta: the smooth-L1 threshold in normalized units.
        """
        B, _, H, W = pred.shape
        p = self.patch_size
        mask = bool_masked_pos.reshape(B, 1, H // p, W // p).to(pred.dtype)
        mask = mask.repeat_interleave(p, dim=2).repeat_interleave(p, dim=3).expand(B, 3, H, W)
        if valid is not None:
            mask = mask * valid
        loss = F.smooth_l1_loss(pred, target_canvas, reduction="none", beta=beta)
        return (loss * mask).sum() / mask.sum().clamp_min(1)


def init_weights(model: SegGPT) -> None:
    """The official initialisation: normal(0.02) tokens, truncated-normal(0.02) linears, unit LayerNorms."""
    for token in (
        model.mask_token,
        model.segment_token_x,
        model.segment_token_y,
        model.type_token_cls,
        model.type_token_ins,
    ):
        nn.init.normal_(token, std=0.02)
    nn.init.trunc_normal_(model.pos_embed, std=0.02)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def build_seggpt(config: SegGPTConfig, *, device: torch.device | str | None = None, init: bool = True) -> SegGPT:
    """Build a SegGPT from a config; `init=False` skips the random initialisation (e.g. on the meta device)."""
    with torch.device(device) if device is not None else contextlib.nullcontext():
        model = SegGPT(config)
    if init and str(device) != "meta":
        init_weights(model)
    return model
