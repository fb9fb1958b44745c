"""Bad inputs to the fused norm-GRU raise a clear Python exception naming the argument,
whichever the norm."""
import pytest
import torch

from lngru_cases import NORMS
from pyrl import ops

T, B, I, H = 3, 2, 4, 5


def good(dtype=torch.float32, norm="layernorm"):
    args = dict(
        x=torch.randn(T, B, I, dtype=dtype),
        h0=torch.zeros(B, H, dtype=dtype),
        reset=torch.zeros(T, B, dtype=torch.bool),
        weight_ih=torch.randn(3 * H, I, dtype=dtype),
        weight_hh=torch.randn(3 * H, H, dtype=dtype),
        bias_ih=torch.zeros(3 * H, dtype=dtype),
        bias_hh=torch.zeros(3 * H, dtype=dtype),
        gamma_ih=torch.ones(3 * H, dtype=dtype) if norm != "none" else None,
        gamma_hh=torch.ones(3 * H, dtype=dtype) if norm != "none" else None,
        norm=norm,
    )
    return args


def call(norm="layernorm", **overrides):
    args = good(norm=norm)
    args.update(overrides)
    return ops.lngru_sequence(**args)


@pytest.mark.parametrize("norm", NORMS)
def test_good_inputs_run(norm):
    out, hT = call(norm)
    assert out.shape == (T, B, H) and hT.shape == (B, H)


BAD = [
        ("x", torch.randn(B, I), "x must have 3 dimensions"),
        ("h0", torch.zeros(H), "h0 must have 2 dimensions"),
        ("h0", torch.zeros(B + 1, H), "h0 must have shape"),
        ("weight_ih", torch.randn(3 * H, I + 1), "weight_ih must have shape"),
        ("weight_hh", torch.randn(3 * H, H, 1), "weight_hh must have 2 dimensions"),
        ("bias_ih", torch.zeros(2 * H), "bias_ih must have shape"),
        ("bias_hh", torch.zeros(3 * H + 1), "bias_hh must have shape"),
        ("gamma_ih", torch.ones(H), "gamma_ih must have shape"),
        ("gamma_hh", None, "both gamma_ih and gamma_hh"),
        ("reset", torch.zeros(T + 1, B, dtype=torch.bool), "reset must have shape"),
        ("weight_hh", torch.randn(3 * H, H, dtype=torch.float64), "weight_hh has dtype"),
        ("h0", torch.zeros(B, H, dtype=torch.float64), "h0 has dtype"),
        ("x", torch.randn(T, B, I, dtype=torch.float16), "x must be float32 or float64"),
        ("x", torch.randn(B, T, I).transpose(0, 1), "x must be contiguous"),
        ("weight_ih", torch.randn(I, 3 * H).t(), "weight_ih must be contiguous"),
        ("x", torch.randn(0, B, I), "shapes do not match"),  # T = 0 is accepted (tests/test_sizes.py), but not against a [T,B] reset
        ("weight_ih", "not a tensor", "weight_ih must be a torch.Tensor"),
]
# every case under every norm, except the gain cases under "none" (it takes no gains)
CASES = [(norm, *case) for norm in NORMS for case in BAD
         if not (norm == "none" and case[0].startswith("gamma"))]


@pytest.mark.parametrize("norm, name, value, message", CASES,
                         ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_names_the_argument(norm, name, value, message):
    with pytest.raises((RuntimeError, ValueError, TypeError), match=message):
        call(norm, **{name: value})


@pytest.mark.parametrize("overrides, message", [
    (dict(norm="batchnorm"), "norm must be one of 'none', 'layernorm', 'rmsnorm', got 'batchnorm'"),
    (dict(norm="rmsnorm", gamma_ih=None, gamma_hh=None), "norm='rmsnorm' needs the gains"),
    (dict(norm="layernorm", gamma_ih=None, gamma_hh=None), "norm='layernorm' needs the gains"),
    (dict(norm="none", gamma_ih=torch.ones(3 * H), gamma_hh=torch.ones(3 * H)), "norm='none' takes no gains"),
])
def test_norm_and_gains_must_agree(overrides, message):
    with pytest.raises(ValueError, match=message):
        call(**overrides)


@pytest.mark.parametrize("norm, gains, message", [
    ("batchnorm", True, 'norm must be "none", "layernorm" or "rmsnorm", got "batchnorm"'),
    ("rmsnorm", False, 'norm="rmsnorm" needs the gains gamma_ih and gamma_hh'),
    ("none", True, 'norm="none" takes no gains'),
])
def test_compiled_op_checks_the_norm_itself(norm, gains, message):
    # pyrl._C called directly (no Python wrapper in between) refuses the same mistakes.
    a = good()
    ga, gh = (a["gamma_ih"], a["gamma_hh"]) if gains else (None, None)
    with pytest.raises(RuntimeError, match=message):
        ops._ext().lngru_forward(a["x"], a["h0"], a["reset"], a["weight_ih"], a["weight_hh"],
                                 a["bias_ih"], a["bias_hh"], ga, gh, 1e-5, norm)


def test_reset_values_must_be_0_or_1():
    with pytest.raises(ValueError, match="reset must be bool or hold only 0/1"):
        call(reset=torch.full((T, B), 3))


def test_cell_rank_errors():
    args = good()
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        ops.lngru_cell(args["x"], args["h0"], args["weight_ih"], args["weight_hh"],
                       args["bias_ih"], args["bias_hh"])


@pytest.mark.skipif(not hasattr(torch, "device"), reason="torch without devices")
def test_meta_device_is_refused():
    # A device the CPU kernel cannot read (no GPU here): refused with the device named.
    args = good()
    args["h0"] = torch.zeros(B, H, device="meta")
    with pytest.raises(RuntimeError, match="h0 is on meta"):
        ops.lngru_sequence(**args)
