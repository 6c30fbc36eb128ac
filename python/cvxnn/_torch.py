"""The fitted network as a PyTorch module (imported only when asked for)."""

from __future__ import annotations


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "to_torch() needs PyTorch: pip install torch (cvxnn itself does not depend on it)"
        ) from e
    return torch


def to_torch(est):
    """``nn.Sequential(Linear, ReLU, Linear)`` for ReLU networks, a gated module otherwise."""
    torch = _torch()
    nn = torch.nn
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    w1, b1, w2 = t(est.hidden_weights_), t(est.hidden_bias_), t(est.output_weights_)
    h, d = w1.shape
    c = w2.shape[0]
    if est.meta_["model"] == "relu":
        net = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, c)).double()
        with torch.no_grad():
            net[0].weight.copy_(w1)
            net[0].bias.copy_(b1)
            net[2].weight.copy_(w2)
            net[2].bias.zero_()
        return net

    class GatedReLU(nn.Module):
        """y = (1[x G^T + g > 0] * (x W1^T + b1)) W2^T: the gates are fixed buffers."""

        def __init__(self):
            super().__init__()
            self.register_buffer("gates", t(est.gates_))
            self.register_buffer("gate_bias", t(est.gate_bias_))
            self.hidden = nn.Linear(d, h).double()
            self.output = nn.Linear(h, c, bias=False).double()
            with torch.no_grad():
                self.hidden.weight.copy_(w1)
                self.hidden.bias.copy_(b1)
                self.output.weight.copy_(w2)

        def forward(self, x):
            on = (x @ self.gates.T + self.gate_bias) > 0
            return self.output(self.hidden(x) * on.to(x.dtype))

    return GatedReLU()
