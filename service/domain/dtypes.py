"""Number formats used to store and compute with weights, computed from their bit layouts.

Every derived figure (bias, largest finite value, smallest normal and subnormal value, machine
epsilon, integer range) is *computed* from the layout, never typed in, so the table below is the
only place a format is defined.

Floating-point formats follow IEEE 754-2019 (sec. 3.4, binary interchange formats): a value with
exponent field ``E`` and fraction field ``M`` (``f`` fraction bits, bias ``2^(e-1) - 1``) is

* normal (``1 <= E``):  ``(1 + M / 2^f) * 2^(E - bias)``
* subnormal (``E = 0``): ``(M / 2^f) * 2^(1 - bias)``

and the all-ones exponent field is reserved for infinities and NaNs, which gives

* ``max = (2 - 2^-f) * 2^emax`` with ``emax = (2^e - 2) - bias``
* ``min_normal = 2^(1 - bias)``, ``min_subnormal = 2^(1 - bias - f)``, ``epsilon = 2^-f``.

The course notes give the layouts FP32 = 1 sign + 8 exponent + 23 fraction bits, FP16 = 1 + 5 + 10
and BF16 = 1 + 8 + 7 (BF16 is the upper half of FP32: same exponent range, 7 fraction bits).

FP8 follows Micikevicius et al. 2022, "FP8 Formats for Deep Learning" (arXiv:2209.05433), sec. 3
and Table 1. E5M2 is IEEE-like (max ``1.75 * 2^15 = 57344``, min normal ``2^-14``). E4M3 has no
infinities and a single NaN mantissa pattern per sign (``S.1111.111``), so the top exponent binade
holds normal numbers except its all-ones fraction: ``emax = (2^e - 1) - bias = 8`` and
``max = (2 - 2^-(f-1)) * 2^8 = 1.75 * 256 = 448``, min normal ``2^-6``. That special case is the
:attr:`FloatEncoding.FINITE_NAN_ONLY` encoding below ("FN": finite and NaN only, as in PyTorch's
``float8_e4m3fn``).

Integers are two's complement: ``b`` bits hold ``[-2^(b-1), 2^(b-1) - 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from service.domain.errors import InvalidInputError


class FormatKind(StrEnum):
    """Whether a format stores floating-point numbers or two's-complement integers."""

    FLOAT = "float"
    INT = "int"


class FloatEncoding(StrEnum):
    """How a floating-point format spends its top exponent binade.

    ``ieee``: the all-ones exponent encodes infinities and NaNs (IEEE 754-2019 sec. 3.4; FP32,
    FP16, BF16, FP8 E5M2). ``finite-nan-only``: no infinities; only the all-ones exponent *and*
    all-ones fraction is NaN, every other top-binade pattern is a normal number (FP8 E4M3,
    Micikevicius et al. 2022, sec. 3, Table 1).
    """

    IEEE = "ieee"
    FINITE_NAN_ONLY = "finite-nan-only"


@dataclass(frozen=True, slots=True)
class NumberFormat:
    """One number format: its bit layout and the range and precision computed from it.

    Give ``name``, ``kind``, ``sign_bits``, ``exponent_bits`` and ``fraction_bits`` (for integers,
    ``exponent_bits`` is 0 and ``fraction_bits`` are the non-sign bits); everything else is
    derived in ``__post_init__``. Float-only figures are ``None`` for integers, and the integer
    range is ``None`` for floats.
    """

    name: str
    kind: FormatKind
    sign_bits: int
    exponent_bits: int
    fraction_bits: int
    encoding: FloatEncoding | None = None
    bits: int = field(init=False)
    bytes: float = field(init=False)
    bias: int | None = field(init=False)
    max_exponent: int | None = field(init=False)
    min_exponent: int | None = field(init=False)
    max: float | None = field(init=False)
    min_normal: float | None = field(init=False)
    min_subnormal: float | None = field(init=False)
    epsilon: float | None = field(init=False)
    int_min: int | None = field(init=False)
    int_max: int | None = field(init=False)

    def __post_init__(self) -> None:
        if self.sign_bits not in (0, 1) or self.exponent_bits < 0 or self.fraction_bits < 0:
            raise ValueError(f"{self.name}: impossible bit layout")
        bits = self.sign_bits + self.exponent_bits + self.fraction_bits
        _set(self, "bits", bits)
        _set(self, "bytes", bits / 8)
        if self.kind is FormatKind.INT:
            if self.exponent_bits != 0 or self.encoding is not None:
                raise ValueError(f"{self.name}: integers have no exponent or float encoding")
            # Two's complement (signed) or plain binary (unsigned).
            _set(self, "int_min", -(2 ** (bits - 1)) if self.sign_bits else 0)
            _set(self, "int_max", 2 ** (bits - 1) - 1 if self.sign_bits else 2**bits - 1)
            for name in _FLOAT_ONLY:
                _set(self, name, None)
            return
        if self.exponent_bits < 2 or self.fraction_bits < 1 or self.encoding is None:
            raise ValueError(f"{self.name}: a float needs >= 2 exponent bits, >= 1 fraction bit")
        e, f = self.exponent_bits, self.fraction_bits
        bias = 2 ** (e - 1) - 1
        if self.encoding is FloatEncoding.IEEE:
            # All-ones exponent reserved for inf/NaN (IEEE 754-2019 sec. 3.4).
            emax = (2**e - 2) - bias
            largest_fraction = 2.0 - 2.0**-f
        else:
            # Micikevicius et al. 2022, sec. 3: top binade usable, all-ones fraction is NaN.
            emax = (2**e - 1) - bias
            largest_fraction = 2.0 - 2.0 ** -(f - 1)
        _set(self, "bias", bias)
        _set(self, "max_exponent", emax)
        _set(self, "min_exponent", 1 - bias)
        _set(self, "max", largest_fraction * 2.0**emax)
        _set(self, "min_normal", 2.0 ** (1 - bias))
        _set(self, "min_subnormal", 2.0 ** (1 - bias - f))
        _set(self, "epsilon", 2.0**-f)
        for name in _INT_ONLY:
            _set(self, name, None)

    @property
    def is_float(self) -> bool:
        """True for floating-point formats."""
        return self.kind is FormatKind.FLOAT


_FLOAT_ONLY = (
    "bias",
    "max_exponent",
    "min_exponent",
    "max",
    "min_normal",
    "min_subnormal",
    "epsilon",
)
_INT_ONLY = ("int_min", "int_max")


def _set(obj: NumberFormat, name: str, value: object) -> None:
    """Assign a derived field on the frozen dataclass (only from ``__post_init__``)."""
    object.__setattr__(obj, name, value)


#: FP32, IEEE 754 binary32: 1 + 8 + 23 bits.
FP32 = NumberFormat("fp32", FormatKind.FLOAT, 1, 8, 23, FloatEncoding.IEEE)
#: FP16, IEEE 754 binary16: 1 + 5 + 10 bits.
FP16 = NumberFormat("fp16", FormatKind.FLOAT, 1, 5, 10, FloatEncoding.IEEE)
#: BF16 (Google Brain bfloat16): 1 + 8 + 7 bits, the upper 16 bits of FP32.
BF16 = NumberFormat("bf16", FormatKind.FLOAT, 1, 8, 7, FloatEncoding.IEEE)
#: FP8 E4M3 (Micikevicius et al. 2022, Table 1): no infinities, max 448.
FP8_E4M3 = NumberFormat("fp8-e4m3", FormatKind.FLOAT, 1, 4, 3, FloatEncoding.FINITE_NAN_ONLY)
#: FP8 E5M2 (Micikevicius et al. 2022, Table 1): IEEE-like, max 57344.
FP8_E5M2 = NumberFormat("fp8-e5m2", FormatKind.FLOAT, 1, 5, 2, FloatEncoding.IEEE)
#: Signed 8-bit integer, two's complement [-128, 127].
INT8 = NumberFormat("int8", FormatKind.INT, 1, 0, 7)
#: Signed 4-bit integer, two's complement [-8, 7]; half a byte per value.
INT4 = NumberFormat("int4", FormatKind.INT, 1, 0, 3)

#: Every format the service knows, by its wire name.
FORMATS: dict[str, NumberFormat] = {
    fmt.name: fmt for fmt in (FP32, FP16, BF16, FP8_E4M3, FP8_E5M2, INT8, INT4)
}


def get_format(name: str, field_name: str = "format") -> NumberFormat:
    """Look a format up by wire name, raising ``InvalidInputError(field_name)`` if unknown."""
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(FORMATS)
        raise InvalidInputError(
            field_name, f"unknown format {name!r}; use one of {known}"
        ) from None


def finite_values(fmt: NumberFormat) -> tuple[float, ...]:
    """Every finite non-negative value a float format can represent, ascending, from its bits.

    Enumerates all exponent/fraction fields with the IEEE 754 value rule (module docstring),
    skipping the patterns the encoding reserves for infinities and NaNs. Only formats of at most
    16 bits are enumerated (FP32 would need 2^31 values). The result lets tests check a rounding
    routine against the true grid without a hand-typed table.
    """
    if not fmt.is_float or fmt.bits > 16:
        raise InvalidInputError("format", f"cannot enumerate the values of {fmt.name}")
    e, f = fmt.exponent_bits, fmt.fraction_bits
    bias = 2 ** (e - 1) - 1
    top = 2**e - 1
    values: list[float] = []
    for exponent_field in range(top + 1):
        for fraction_field in range(2**f):
            if exponent_field == top and (
                fmt.encoding is FloatEncoding.IEEE or fraction_field == 2**f - 1
            ):
                continue  # reserved for infinities / NaN
            if exponent_field == 0:
                value = fraction_field / 2.0**f * 2.0 ** (1 - bias)
            else:
                value = (1.0 + fraction_field / 2.0**f) * 2.0 ** (exponent_field - bias)
            values.append(value)
    return tuple(values)
