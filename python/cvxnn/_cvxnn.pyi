"""The Rust extension under the estimators (settings travel as one JSON object)."""

from typing import Callable, Optional

import numpy as np
import numpy.typing as npt

__version__: str

def fit(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    task: str,
    settings: str,
    labels: Optional[str] = ...,
    gates: Optional[npt.NDArray[np.float64]] = ...,
    warm: Optional[npt.NDArray[np.float64]] = ...,
    log: Optional[Callable[[str], object]] = ...,
) -> tuple[bytes, npt.NDArray[np.float64], str]:
    """Train one network: (model bytes, the solve's weights, JSON report)."""

def forward(model: bytes, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The network's outputs (n, c) for raw inputs."""

def inspect(model: bytes) -> tuple[str, dict[str, npt.NDArray[np.float64]]]:
    """The metadata (JSON) and the weights gates, gate_bias, w1, b1, w2."""

def save(model: bytes, path: str) -> None:
    """Write the model (.safetensors, and its metadata as .json) atomically."""

def load(path: str) -> bytes:
    """Read and check a model file."""

def path(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    task: str,
    settings: str,
    lambdas: list[float],
    warm: bool = ...,
    labels: Optional[str] = ...,
    gates: Optional[npt.NDArray[np.float64]] = ...,
) -> list[tuple[str, bytes]]:
    """A regularization path: (JSON row, model bytes) per lambda, largest first."""

def defaults() -> str:
    """The library's defaults under the estimators' parameter names (JSON)."""

def devices() -> list[tuple[str, str, str, bool]]:
    """(name, backend, type, f64) for every GPU adapter wgpu sees."""
