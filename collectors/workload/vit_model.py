"""The ViT the workload runs: built from planned settings, read back from the
module as built (never echoed from the request).

Imports torch at module level: import this module only once torch is known
to be importable (vit_workload.py does; the tests skip without torch).

- timm_vit: timm.models.vision_transformer.VisionTransformer(img_size=R,
  patch_size=P, embed_dim=hidden, depth, num_heads=heads,
  mlp_ratio=mlp/hidden, num_classes=1000, class_token=True,
  global_pool="token", qkv_bias=True), random init (no pretrained weights).
- vitlab_vit: the documented fallback when timm cannot be imported: the
  same architecture (conv patch embedding, class token, learned position
  embedding, pre-norm blocks with fused scaled-dot-product attention and a
  GELU MLP, final LayerNorm, linear head on the class token), with the same
  attribute names so describe() reads both.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

import vit_settings

TORCH_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def dtype_name(dtype):
    """dtype_name returns the settings name of a torch dtype (torch.bfloat16 -> "bfloat16")."""
    return str(dtype).replace("torch.", "")


class _PatchEmbed(nn.Module):
    def __init__(self, img_size, patch_size, embed_dim):
        super().__init__()
        self.img_size = (img_size, img_size)
        self.patch_size = (patch_size, patch_size)
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class LinearPatchProj(nn.Module):
    """LinearPatchProj computes a patch-embedding convolution (kernel =
    stride = patch, no padding) as one GEMM: the image is cut into patches by
    a reshape/permute copy, (B*h*w, 3*p*p) in the convolution's (c, kh, kw)
    order, and multiplied by the convolution's weight as a (hidden, 3*p*p)
    matrix. It is the same projection as the Conv2d it replaces (same
    weights, same sums; only the summation order may differ). Its output is
    (B, hidden, h, w) with channels-last strides, so timm's following
    flatten(2).transpose(1, 2) is a view, not a copy."""

    def __init__(self, conv):
        super().__init__()
        if (tuple(conv.kernel_size) != tuple(conv.stride) or any(conv.padding)
                or any(d != 1 for d in conv.dilation) or conv.groups != 1):
            raise ValueError("LinearPatchProj needs kernel == stride, no padding, no dilation, "
                             "one group; got %r" % conv)
        self.patch = int(conv.kernel_size[0])
        self.in_chans = int(conv.in_channels)
        self.out_chans = int(conv.out_channels)
        self.weight = nn.Parameter(conv.weight.detach().reshape(self.out_chans, -1).clone(),
                                   requires_grad=conv.weight.requires_grad)
        self.bias = (None if conv.bias is None else
                     nn.Parameter(conv.bias.detach().clone(), requires_grad=conv.bias.requires_grad))

    def patches(self, x):
        """patches returns the (B*h*w, C*p*p) patch matrix of images x (B, C, H, W)."""
        b, c, hh, ww = x.shape
        p = self.patch
        h, w = hh // p, ww // p
        x = x[:, :, :h * p, :w * p]  # a conv with stride p drops the remainder too
        return x.reshape(b, c, h, p, w, p).permute(0, 2, 4, 1, 3, 5).reshape(b * h * w, c * p * p)

    def forward(self, x):
        b = x.shape[0]
        h, w = x.shape[-2] // self.patch, x.shape[-1] // self.patch
        y = F.linear(self.patches(x), self.weight, self.bias)
        return y.view(b, h, w, self.out_chans).permute(0, 3, 1, 2)


class _Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class _Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, dim, num_heads, mlp):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _Mlp(dim, mlp)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VitlabViT(nn.Module):
    """VitlabViT is the fallback ViT (see the module doc)."""

    def __init__(self, img_size, patch_size, embed_dim, depth, num_heads, mlp, num_classes):
        super().__init__()
        self.embed_dim = embed_dim
        self.num_classes = num_classes
        self.patch_embed = _PatchEmbed(img_size, patch_size, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + 1, embed_dim))
        self.blocks = nn.Sequential(*[_Block(embed_dim, num_heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def _timm_ctor(planned):
    from timm.models.vision_transformer import VisionTransformer

    def ctor():
        return VisionTransformer(
            img_size=planned["resolution"],
            patch_size=planned["patch"],
            in_chans=3,
            num_classes=vit_settings.NUM_CLASSES,
            global_pool="token",
            embed_dim=planned["hidden"],
            depth=planned["depth"],
            num_heads=planned["heads"],
            mlp_ratio=planned["mlp"] / planned["hidden"],
            qkv_bias=True,
            class_token=True,
        )
    return ctor


def _vitlab_ctor(planned):
    def ctor():
        return VitlabViT(planned["resolution"], planned["patch"], planned["hidden"],
                         planned["depth"], planned["heads"], planned["mlp"],
                         vit_settings.NUM_CLASSES)
    return ctor


def build(planned, device):
    """build returns (model, where) for planned settings: the module in eval
    mode, parameters frozen, on `device` in the planned dtype. The module is
    constructed directly on the device (torch.device context) to keep the
    random init fast; if that fails it is built on the CPU and moved, and
    `where` says which ("device" or "cpu")."""
    if planned["model"] == "timm_vit":
        ctor = _timm_ctor(planned)
    elif planned["model"] == "vitlab_vit":
        ctor = _vitlab_ctor(planned)
    else:
        raise ValueError("unknown model %r" % planned["model"])
    where = "device"
    try:
        with torch.device(device):
            model = ctor()
    except Exception as e:  # noqa: BLE001 - retried on the CPU; a real failure repeats there
        if vit_settings.is_oom(e):
            raise
        where = "cpu"
        model = ctor()
    model = model.to(device=device, dtype=TORCH_DTYPES[planned["dtype"]])
    model.eval()
    model.requires_grad_(False)
    set_patch_embed(model, planned.get("patch_embed") or "conv-cudnn")
    return model, where


PATCH_EMBEDS = ("conv-cudnn", "conv-channels-last", "unfold-linear")


def set_patch_embed(model, kind):
    """set_patch_embed makes model.patch_embed.proj compute the projection
    the `patch_embed` setting names: conv-cudnn (the Conv2d as built, NCHW),
    conv-channels-last (the Conv2d's weight in channels-last memory format;
    the pipeline feeds channels-last input) or unfold-linear (the Conv2d
    replaced by LinearPatchProj with the same weights: one GEMM)."""
    proj = model.patch_embed.proj
    if kind == "conv-cudnn":
        return
    if kind == "conv-channels-last":
        model.patch_embed.proj = proj.to(memory_format=torch.channels_last)
    elif kind == "unfold-linear":
        model.patch_embed.proj = LinearPatchProj(proj)
    else:
        raise ValueError("unknown patch_embed %r (want one of %s)" % (kind, ", ".join(PATCH_EMBEDS)))


def patch_embed_kind(model):
    """patch_embed_kind reads back how the built model computes its patch
    embedding (the effective `patch_embed`)."""
    proj = model.patch_embed.proj
    if isinstance(proj, LinearPatchProj):
        return "unfold-linear"
    if isinstance(proj, nn.Conv2d):
        w = proj.weight
        if w.dim() == 4 and w.shape[1] > 1 and w.is_contiguous(memory_format=torch.channels_last) \
                and not w.is_contiguous():
            return "conv-channels-last"
        return "conv-cudnn"
    return None


def _square(value, what):
    if isinstance(value, int):
        return value
    t = tuple(value)
    if len(t) != 2 or t[0] != t[1]:
        raise ValueError("model %s %r is not square" % (what, t))
    return int(t[0])


def describe(model):
    """describe reads the architecture back from a built module (timm's
    VisionTransformer or VitlabViT): patch, depth, hidden, heads, mlp,
    resolution, num_classes, dtype and the parameter count. Every block must
    agree; the parameters must share one dtype."""
    blocks = list(model.blocks)
    if not blocks:
        raise ValueError("model has no transformer blocks")
    heads = {int(b.attn.num_heads) for b in blocks}
    mlps = {int(b.mlp.fc1.out_features) for b in blocks}
    if len(heads) != 1 or len(mlps) != 1:
        raise ValueError("model blocks disagree: heads %s, mlp %s" % (sorted(heads), sorted(mlps)))
    dtypes = {p.dtype for p in model.parameters()}
    if len(dtypes) != 1:
        raise ValueError("model parameters have several dtypes: %s"
                         % sorted(dtype_name(d) for d in dtypes))
    devices = {str(p.device) for p in model.parameters()}
    return {
        "patch": _square(model.patch_embed.patch_size, "patch_size"),
        "resolution": _square(model.patch_embed.img_size, "img_size"),
        "depth": len(blocks),
        "hidden": int(model.embed_dim),
        "heads": heads.pop(),
        "mlp": mlps.pop(),
        "num_classes": int(model.head.out_features),
        "dtype": dtype_name(dtypes.pop()),
        "params": sum(p.numel() for p in model.parameters()),
        "devices": sorted(devices),
        "class_token": getattr(model, "cls_token", None) is not None,
    }
