"""The epitome of a convolution: the smaller weight tensor its kernel is sampled from.

An epitome ``E`` of shape ``out x in x p x q`` (BACKGROUND.md section 11; EPIM, DAC 2024)
stores the weights of a conv layer whose full kernel is
``C_out x (C_in / groups) x kh x kw``: each ``kh x kw`` patch is cut from ``E`` at an
offset and channel indices wrap modulo ``out`` and ``in``. Only ``E`` is stored, so the
layer holds :attr:`Epitome.stored_weights` values instead of its full kernel's. A layer
gets one from an ONNX weight chain (:mod:`onnx_frontend.epitome_chain`) or from a plan
file (:mod:`onnx_frontend.epitome_plan`). The cost model maps it onto arrays
(:mod:`costmodel.epitome`; MODEL.md section 11).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Epitome:
    """Shape of a stored epitome tensor.

    Attributes:
        out: output channels stored (``1 <= out <= C_out``).
        in_: input channels stored per group (``1 <= in_ <= C_in / groups``).
        p: stored rows of the spatial window (``p >= kh``).
        q: stored columns of the spatial window (``q >= kw``).
    """

    out: int
    in_: int
    p: int
    q: int

    @property
    def stored_weights(self) -> int:
        """Weight values stored: ``out * in_ * p * q``."""
        return self.out * self.in_ * self.p * self.q

    def as_dict(self) -> dict[str, int]:
        """``{"out", "in", "p", "q"}`` as in ``pimtune inspect --json`` and plan files."""
        return {"out": self.out, "in": self.in_, "p": self.p, "q": self.q}

    def misfit(self, c_out: int, c_in_group: int, kernel: tuple[int, int]) -> str:
        """Why this epitome cannot store a kernel ``c_out x c_in_group x kh x kw``
        (one phrase naming the problem and the fix), or ``""`` when it can."""
        kh, kw = kernel
        if min(self.out, self.in_, self.p, self.q) < 1:
            return f"epitome {self.text()} has a dimension below 1; give positive sizes"
        if self.p < kh or self.q < kw:
            return (f"epitome {self.text()} is smaller than the {kh}x{kw} kernel; "
                    f"give p >= {kh} and q >= {kw}")
        if self.out > c_out or self.in_ > c_in_group:
            return (f"epitome {self.text()} has more channels than the layer "
                    f"({c_out} out, {c_in_group} in per group); give out <= {c_out} and in <= {c_in_group}")
        return ""

    def text(self) -> str:
        """``out x in x p x q``, e.g. ``4x2x5x5``."""
        return f"{self.out}x{self.in_}x{self.p}x{self.q}"
