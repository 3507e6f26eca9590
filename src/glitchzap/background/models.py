"""The one table of background-removal models: rembg's names, files, checksums, input sizes.

Each row names the session class that knows the model's normalisation and output
post-processing (rembg's, or glitchzap's own for `isnet-imgly`, see imgly.py); glitchzap only
gives it our model file (never rembg's downloader).
"""

from __future__ import annotations

from dataclasses import dataclass

from glitchzap.errors import InvalidParameters

RELEASE_URL = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/"
# isnet-imgly's source: the npm tarball of @imgly/background-removal 1.0.6 (GPL-3.0), fetched
# onto the user's machine by `npm pack` (files.py); never redistributed by glitchzap.
IMGLY_TARBALL_URL = (
    "https://registry.npmjs.org/@imgly/background-removal/-/background-removal-1.0.6.tgz"
)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    url: str
    checksum: str  # "md5:<hex>" or "sha256:<hex>", as rembg pins it
    input_size: int  # the model sees input_size x input_size pixels
    # "module:Class" under rembg.sessions, or a dotted "glitchzap.…:Class" of our own
    session_class: str
    # The int8 variant's recipe (see quantize.py): the Conv nodes kept in float32 because
    # quantizing them moves the mask. None: the model has no int8 variant.
    int8_keep_fp32: tuple[str, ...] | None = None
    # The file's exact size where we know it: a file of another size is refused unhashed.
    size_bytes: int | None = None
    # Whether bfloat16 arithmetic (OpenVINO) keeps the mask within bench/precision_heldout.py's
    # bar against float32 on held-out photos, so `models.precision: auto` may use it.
    bf16_judged_safe: bool = False

    @property
    def filename(self) -> str:
        return f"{self.name}.onnx"


def _spec(
    name: str,
    file: str,
    checksum: str,
    size: int,
    session: str,
    int8_keep_fp32: tuple[str, ...] | None = None,
    size_bytes: int | None = None,
) -> ModelSpec:
    return ModelSpec(name, RELEASE_URL + file, checksum, size, session, int8_keep_fp32, size_bytes)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "u2netp",
            "u2netp.onnx",
            "md5:8e83ca70e441ab06c318d82300c84806",
            320,
            "u2netp:U2netpSession",
            # Conv_787 carries biases up to 1361 (a 0.13 mean mask error when quantized); Conv_0
            # sees the raw image. Measured per node by quantizing the 119 Convs in groups.
            int8_keep_fp32=("Conv_0", "Conv_787"),
            size_bytes=4_574_861,
        ),
        _spec(
            "u2net", "u2net.onnx", "md5:60024c5c889badc19c04ad937298a77b", 320, "u2net:U2netSession"
        ),
        _spec(
            "u2net_human_seg",
            "u2net_human_seg.onnx",
            "md5:c09ddc2e0104f800e3e1bb4652583d1f",
            320,
            "u2net_human_seg:U2netHumanSegSession",
        ),
        _spec(
            "silueta",
            "silueta.onnx",
            "md5:55e59e0d8062d2f5d013f4725ee84782",
            320,
            "silueta:SiluetaSession",
        ),
        _spec(
            "isnet-general-use",
            "isnet-general-use.onnx",
            "md5:fc16ebd8b0c10d971d3513d564d01e29",
            1024,
            "dis_general_use:DisSession",
        ),
        # IS-Net (Qin et al., "Highly Accurate Dichotomous Image Segmentation") as IMG.LY ship
        # it in @imgly/background-removal 1.0.6: float16 weights, float32 input and output,
        # (x - 128) / 256 normalisation, a 1024x1024 mask already through its sigmoid.
        # GPL-3.0: `glitchzap models fetch isnet-imgly` fetches it onto the user's machine from
        # the npm registry; glitchzap never ships or redistributes the file.
        ModelSpec(
            "isnet-imgly",
            IMGLY_TARBALL_URL,
            "sha256:b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
            1024,
            "glitchzap.background.imgly:ImglyIsnetSession",
            size_bytes=88_188_479,
            # bf16 vs float32 on davis345 and the memegen sample: every photo within mean
            # |diff| 0.02, lowest IoU 0.98 (u2netp in bf16: 92 % / 79 % within, lowest IoU 0.02).
            bf16_judged_safe=True,
        ),
        _spec(
            "isnet-anime",
            "isnet-anime.onnx",
            "md5:6f184e756bb3bd901c8849220a83e38e",
            1024,
            "dis_anime:DisSession",
        ),
        _spec(
            "birefnet-general",
            "BiRefNet-general-epoch_244.onnx",
            "md5:7a35a0141cbbc80de11d9c9a28f52697",
            1024,
            "birefnet_general:BiRefNetSessionGeneral",
        ),
        _spec(
            "birefnet-general-lite",
            "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx",
            "md5:4fab47adc4ff364be1713e97b7e66334",
            1024,
            "birefnet_general_lite:BiRefNetSessionGeneralLite",
        ),
        _spec(
            "birefnet-portrait",
            "BiRefNet-portrait-epoch_150.onnx",
            "md5:c3a64a6abf20250d090cd055f12a3b67",
            1024,
            "birefnet_portrait:BiRefNetSessionPortrait",
        ),
        _spec(
            "birefnet-dis",
            "BiRefNet-DIS-epoch_590.onnx",
            "md5:2d4d44102b446f33a4ebb2e56c051f2b",
            1024,
            "birefnet_dis:BiRefNetSessionDIS",
        ),
        _spec(
            "birefnet-hrsod",
            "BiRefNet-HRSOD_DHU-epoch_115.onnx",
            "md5:c017ade5de8a50ff0fd74d790d268dda",
            1024,
            "birefnet_hrsod:BiRefNetSessionHRSOD",
        ),
        _spec(
            "birefnet-cod",
            "BiRefNet-COD-epoch_125.onnx",
            "md5:f6d0d21ca89d287f17e7afe9f5fd3b45",
            1024,
            "birefnet_cod:BiRefNetSessionCOD",
        ),
        _spec(
            "birefnet-massive",
            "BiRefNet-massive-TR_DIS5K_TR_TEs-epoch_420.onnx",
            "md5:33e726a2136a3d59eb0fdf613e31e3e9",
            1024,
            "birefnet_massive:BiRefNetSessionMassive",
        ),
        _spec(
            "bria-rmbg",
            "bria-rmbg-2.0.onnx",
            "sha256:5b486f08200f513f460da46dd701db5fbb47d79b4be4b708a19444bcd4e79958",
            1024,
            "bria_rmbg:BriaRmBgSession",
        ),
    )
}

DEFAULT_MODEL = "u2netp"


def get_spec(name: str) -> ModelSpec:
    """The table row for `name`, or InvalidParameters listing the supported names."""
    try:
        return MODELS[name]
    except KeyError:
        names = ", ".join(MODELS)
        raise InvalidParameters(f"Unknown model: {name} (supported: {names})") from None
