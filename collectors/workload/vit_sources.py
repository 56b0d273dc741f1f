"""Source images of the workload (torch): synthetic pictures, JPEG-encoded
once at start-up (no dataset is downloaded), the pool batches are drawn
from, and the CPU JPEG decoders.

Image i of batch N is pool image (N * batch_size + i) % pool size.
"""

import io
import time

import torch

import vit_device

# POOL_IMAGES is the most distinct source images encoded at start-up.
POOL_IMAGES = 64


WorkloadError = vit_device.WorkloadError


def _tvio():
    try:
        import torchvision.io as tio
        return tio
    except Exception:  # noqa: BLE001 - torchvision missing or broken: not available
        return None


def _pil():
    try:
        from PIL import Image
        return Image
    except Exception:  # noqa: BLE001
        return None


def available_decoders():
    """available_decoders lists the JPEG decoders this host has, in the
    registry's names: torchvision-cpu and nvjpeg (torchvision.io.decode_jpeg
    on the CPU / on a CUDA device) and pil (Pillow)."""
    out = []
    tio = _tvio()
    if tio is not None and hasattr(tio, "decode_jpeg"):
        out.append("torchvision-cpu")
        if vit_device.DEVICE_TYPE == "cuda" and torch.cuda.is_available():
            out.append("nvjpeg")
    if _pil() is not None:
        out.append("pil")
    return out


def synthetic_image(size, seed):
    """synthetic_image returns a (3, size, size) uint8 picture: smooth
    colour gradients and waves (a different mix per seed) plus mild noise,
    so JPEG coding, decoding and resizing do real work (not a constant)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0.0, 1.0, size)
    y, x = t.view(size, 1), t.view(1, size)
    chans = []
    for _ in range(3):
        a, b, c, d = (torch.rand(4, generator=g) * torch.tensor([6.0, 6.0, 6.28, 0.5])).tolist()
        chans.append(0.5 + 0.3 * torch.sin(a * 3.14 * x + b * 3.14 * y + c) + d * (x - y))
    img = torch.stack(chans) + 0.05 * torch.randn(3, size, size, generator=g)
    return (img.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


def encode_jpeg(img, quality):
    """encode_jpeg encodes a (3, H, W) uint8 image; returns (bytes as a 1-D
    uint8 tensor, encoder name): torchvision.io.encode_jpeg, else Pillow."""
    tio = _tvio()
    if tio is not None and hasattr(tio, "encode_jpeg"):
        return tio.encode_jpeg(img, quality=quality), "torchvision"
    Image = _pil()
    if Image is None:
        raise WorkloadError("no JPEG encoder: neither torchvision.io.encode_jpeg nor Pillow "
                            "can be imported")
    h, w = img.shape[1:]
    im = Image.frombytes("RGB", (w, h), img.permute(1, 2, 0).contiguous().numpy().tobytes()
                         if hasattr(img, "numpy") else bytes(img.permute(1, 2, 0).flatten().tolist()))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8), "pil"


class SourcePool:
    """SourcePool holds the JPEG-encoded synthetic source images, made once
    at start-up at source_resolution with jpeg_quality."""

    def __init__(self, images, size, quality, seed):
        self.size = size
        self.quality = quality
        self.jpegs = []
        self.encoder = None
        for i in range(images):
            data, self.encoder = encode_jpeg(synthetic_image(size, seed * 100003 + i), quality)
            self.jpegs.append(data)
        self.bytes = sum(int(j.numel()) for j in self.jpegs)

    def batch(self, seq, batch_size):
        """batch is the list of JPEG byte tensors of batch seq."""
        n = len(self.jpegs)
        return [self.jpegs[(seq * batch_size + i) % n] for i in range(batch_size)]


def run_pool(planned, seed):
    """run_pool is a run's source pool — min(POOL_IMAGES, batch_size) images
    at the run's source_resolution and jpeg_quality — and the seconds it took
    to make (details.pipeline.pool_encode_s)."""
    t = time.perf_counter()
    pool = SourcePool(max(1, min(POOL_IMAGES, planned["batch_size"])), planned["source_resolution"],
                      planned["jpeg_quality"], seed)
    return pool, time.perf_counter() - t


def decode_cpu(data, decoder):
    """decode_cpu decodes one JPEG (1-D uint8 tensor) on the CPU into a
    (3, H, W) uint8 tensor with the named decoder."""
    if decoder == "torchvision-cpu":
        tio = _tvio()
        return tio.decode_jpeg(data, mode=tio.ImageReadMode.RGB)
    if decoder == "pil":
        Image = _pil()
        im = Image.open(io.BytesIO(data.numpy().tobytes())).convert("RGB")
        w, h = im.size
        return torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(h, w, 3).permute(2, 0, 1)
    raise ValueError("decoder %r does not run on the CPU" % decoder)
