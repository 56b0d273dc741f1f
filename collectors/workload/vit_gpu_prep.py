"""GPU preprocessing (torch): resize, ImageNet normalisation and the cast
to the model dtype on the GPU, and the nvJPEG path that also decodes there.

CPU workers hand the GPU uint8 images (resized, or only decoded); one
addcmul normalises them in float32 and the copy into the model-input buffer
casts. With decoder nvjpeg, torchvision.io.decode_jpeg(list, device=cuda)
decodes the whole batch in one batched nvJPEG call (it uploads the JPEG
bytes itself), and the transform follows on the same stream: a handful of
launches a batch, no per-image Python work besides building the list.
"""

import torch
import torch.nn.functional as F

import vit_sources

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# RESIZE_MODES maps the `resize` setting to F.interpolate arguments.
RESIZE_MODES = {"bilinear-antialias": ("bilinear", True),
                "bilinear": ("bilinear", False),
                "bicubic-antialias": ("bicubic", True)}


def memory_format(patch_embed):
    """memory_format of the model input buffers for a patch_embed setting."""
    return torch.channels_last if patch_embed == "conv-channels-last" else torch.contiguous_format


def resize(x, resolution, mode):
    """resize resizes (N, 3, H, W) images to resolution² with the `resize`
    setting's filter (align_corners False); an identity size is skipped (a
    real pipeline skips it too). On the GPU uint8 is resized as float32;
    on the CPU uint8 stays uint8 (torch's CPU kernels support it, fastest
    in channels-last), else it goes through float32 and is rounded back."""
    if x.shape[-2] == resolution and x.shape[-1] == resolution:
        return x
    kind, aa = RESIZE_MODES[mode]
    if x.dtype == torch.uint8 and x.device.type != "cpu":
        x = x.float()
    if x.dtype == torch.uint8:
        try:
            return F.interpolate(x, size=(resolution, resolution), mode=kind,
                                 align_corners=False, antialias=aa)
        except (RuntimeError, NotImplementedError):
            y = F.interpolate(x.float(), size=(resolution, resolution), mode=kind,
                              align_corners=False, antialias=aa)
            return y.round_().clamp_(0, 255).to(torch.uint8)
    return F.interpolate(x, size=(resolution, resolution), mode=kind, align_corners=False,
                         antialias=aa)


def norm_constants(device):
    """norm_constants returns (scale, bias), float32 (1,3,1,1) tensors on
    device, with x_norm = x_uint8 * scale + bias == (x/255 - mean) / std."""
    scale = torch.tensor([1.0 / (255.0 * s) for s in IMAGENET_STD], dtype=torch.float32,
                         device=device).view(1, 3, 1, 1)
    bias = torch.tensor([-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)],
                        dtype=torch.float32, device=device).view(1, 3, 1, 1)
    return scale, bias


def transform(src, out, scale, bias, resolution, mode="bilinear"):
    """transform preprocesses uint8 NCHW images `src` (N,3,S,S; any memory
    format) into `out` (N,3,R,R) in out's dtype and memory format, on src's
    device: resize to R x R with filter `mode` (the resize setting; skipped
    when S == R), ImageNet normalisation in float32, one copy that casts
    into `out`."""
    x = resize(src, resolution, mode)
    out.copy_(torch.addcmul(bias, x.float(), scale))


class NvjpegPreprocessor:
    """NvjpegPreprocessor decodes a batch of JPEGs on the GPU with one
    batched nvJPEG call and transforms it into the model-input buffer, on
    the current stream."""

    def __init__(self, device, resolution, resize_mode):
        self.tio = vit_sources._tvio()
        self.rgb = self.tio.ImageReadMode.RGB
        self.device = device
        self.resolution = resolution
        self.resize_mode = resize_mode
        self.scale, self.bias = norm_constants(device)

    def run(self, jpegs, out):
        """run enqueues decode + resize + normalise + cast of `jpegs` into `out`."""
        imgs = self.tio.decode_jpeg(jpegs, device=self.device, mode=self.rgb)
        transform(torch.stack(imgs), out, self.scale, self.bias, self.resolution,
                  self.resize_mode)
