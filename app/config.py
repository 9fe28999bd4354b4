"""Settings: the only code that reads the service's environment (`SEQSERVE_*`).

One object, built once by `create_app` (or by a test) and passed down; nothing else calls os.environ.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    import torch

CPU_BATCH_SIZE = 32  # on a CPU thread, larger batches stop paying: per-sentence cost flattens (bench/serve.py)
QUEUED_BATCHES = 8
GPU_BATCH_SIZE = 512  # a GPU forward costs about the same at any batch size: fill it


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEQSERVE_", extra="ignore", protected_namespaces=())

    model_dir: Path = Field(
        Path("model"), description="the model repository: per bundle name a bundle, or one folder per version"
    )
    model_poll_s: float = Field(
        0.0, ge=0, le=86400, description="look for new, changed and removed versions this often; 0: never"
    )
    model_control: bool = Field(
        False, description="serve /repository: list versions, load and unload them (needs an admin or API key)"
    )
    admin_key: SecretStr | None = Field(
        None, description="key of the /repository endpoints ('Bearer <key>'); default: the API key"
    )
    models: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated bundle names to load; empty = every bundle found"
    )
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda|cuda:\d+)$")
    half: bool = Field(False, description="fp16 weights on CUDA (ignored on CPU)")
    max_batch_size: int | None = Field(None, ge=1, le=8192, description="default: 32 on CPU, 512 on CUDA")
    max_wait_ms: float = Field(
        0.0, ge=0, le=1000, description="extra wait for batch-mates, only while the device is busy"
    )
    max_queue: int | None = Field(
        None, ge=1, description="texts waiting per bundle before new requests get 503; default: 8 batches"
    )
    max_text_chars: int = Field(2000, ge=1)
    max_texts: int = Field(64, ge=1)
    max_body_bytes: int = Field(1 << 20, ge=1024)
    abstain: Annotated[dict[str, float | None], NoDecode] = Field(
        default_factory=dict,
        description="per-bundle abstention overrides, e.g. `atis:0.7,snips:off`: abstain below that calibrated "
        "top score instead of the bundle's stored rule, or never; bundles not named keep their stored rule",
    )
    explain_max_tokens: int = Field(
        64, ge=1, description="longest text, in tokens, that `explain` accepts (it costs one forward a token)"
    )
    request_timeout_s: float = Field(10.0, gt=0)
    drain_delay_s: float = Field(
        0.0,
        ge=0,
        le=600,
        description="`python -m app`: after SIGTERM, answer /readyz 503 but keep serving this long, then drain",
    )
    torch_threads: int = Field(1, ge=1, description="intra-op threads per process; more steal cores from HTTP")
    api_key: SecretStr | None = Field(
        None, description="when set, /classify, /models and the /v2 model routes need 'Bearer <key>'"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    metrics_dir: Path | None = Field(
        None, description="prometheus multiprocess folder; default: a per-server folder under the temp dir"
    )
    workers: int = Field(1, ge=1, le=64, description="worker processes started by `python -m app`")
    host: str = "0.0.0.0"
    port: int = Field(8000, ge=1, le=65535)
    log_level: str = "info"

    @field_validator("models", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("abstain", mode="before")
    @classmethod
    def _parse_abstain(cls, value: object) -> object:
        """`NAME:SCORE` or `NAME:off`, comma-separated → {name: score or None}; SCORE in [0, 1]."""
        if not isinstance(value, str):
            return value
        overrides: dict[str, float | None] = {}
        for part in filter(None, (piece.strip() for piece in value.split(","))):
            name, _, threshold = (item.strip() for item in part.partition(":"))
            if not name or not threshold:
                raise ValueError(f"'{part}' is not NAME:SCORE or NAME:off")
            if threshold.lower() == "off":
                overrides[name] = None
                continue
            try:
                score = float(threshold)
            except ValueError:
                raise ValueError(f"'{part}': the threshold must be a number in [0, 1] or 'off'") from None
            if not 0 <= score <= 1:
                raise ValueError(f"'{part}': the threshold must be in [0, 1]")
            overrides[name] = score
        return overrides

    @model_validator(mode="after")
    def _control_needs_a_key(self) -> Settings:
        if self.model_control and self.admin_key is None and self.api_key is None:
            raise ValueError("model_control needs SEQSERVE_ADMIN_KEY or SEQSERVE_API_KEY: loading and unloading "
                             "models is never open to everyone")
        return self

    def control_key(self) -> SecretStr | None:
        """The key the repository endpoints take: the admin key, else the API key."""
        return self.admin_key or self.api_key

    def torch_device(self) -> torch.device:
        """`auto` picks CUDA when present; an explicit device that does not exist fails loudly at start."""
        import torch  # here, not at import: the launcher process reads settings and never needs torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"SEQSERVE_DEVICE={self.device} but CUDA is not available")
        return device

    def batch_size_for(self, device: torch.device) -> int:
        if self.max_batch_size is not None:
            return self.max_batch_size
        return GPU_BATCH_SIZE if device.type == "cuda" else CPU_BATCH_SIZE

    def queue_size_for(self, device: torch.device) -> int:
        """Eight batches by default: about 0.1 s of work on a CPU, so overload turns into quick 503s instead
        of seconds of queueing; never fewer than one request's worth of texts."""
        if self.max_queue is not None:
            return self.max_queue
        return max(QUEUED_BATCHES * self.batch_size_for(device), self.max_texts)
