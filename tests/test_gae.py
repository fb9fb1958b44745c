"""pyrl.ops.gae (C++) against the slow reference written from the rules, plus hand-worked
cases, the valid mask, the reset masks and the argument checks."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrl import ops
from pyrl.benchmarks.rollout import gae_numpy


def _case(seed, T, N, p_term, p_trunc, p_prev, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    rewards = torch.randn(T, N, generator=g, dtype=dtype)
    values = torch.randn(T + 1, N, generator=g, dtype=dtype)
    term = torch.rand(T, N, generator=g) < p_term
    trunc = (torch.rand(T, N, generator=g) < p_trunc) & ~term
    prev = torch.rand(N, generator=g) < p_prev
    return rewards, values, term, trunc, prev


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), T=st.integers(1, 24), N=st.integers(1, 6),
       p_term=st.sampled_from([0.0, 0.05, 0.3, 1.0]), p_trunc=st.sampled_from([0.0, 0.1, 0.5]),
       p_prev=st.sampled_from([0.0, 0.5, 1.0]),
       gamma=st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]),
       lam=st.sampled_from([0.0, 0.3, 0.95, 1.0]),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_gae_matches_reference(seed, T, N, p_term, p_trunc, p_prev, gamma, lam, dtype):
    args = _case(seed, T, N, p_term, p_trunc, p_prev, dtype)
    adv, ret, valid = ops.gae(*args, gamma, lam)
    adv_r, ret_r, valid_r = ops.gae_reference(*args, gamma, lam)
    assert adv.dtype == ret.dtype == dtype and valid.dtype == torch.bool
    assert adv.shape == ret.shape == valid.shape == (T, N)
    torch.testing.assert_close(adv, adv_r)
    torch.testing.assert_close(ret, ret_r)
    assert torch.equal(valid, valid_r)


def test_valid_mask_and_reset_steps():
    rewards, values, term, trunc, prev = _case(3, 40, 7, 0.1, 0.1, 0.5)
    adv, ret, valid = ops.gae(rewards, values, term, trunc, prev, 0.99, 0.95)
    done = term | trunc
    reset_step = torch.cat([prev[None], done[:-1]])  # step t-1 ended an episode
    assert torch.equal(valid, ~reset_step)
    assert reset_step.any() and valid.any()
    assert torch.all(adv[reset_step] == 0)
    assert torch.equal(ret[reset_step], values[:-1][reset_step])
    torch.testing.assert_close(ret[valid], (adv + values[:-1])[valid])


def test_hand_worked_single_env():
    # Steps: 0 valid, 1 truncated (bootstraps from values[2], the final obs' value),
    # 2 reset step, 3 valid, 4 terminated (no bootstrap), 5 reset step, 6 valid (bootstraps
    # from values[7] past the rollout).
    g, lam = 0.9, 0.5
    r = torch.tensor([1.0, 2.0, 0.0, 3.0, 4.0, 0.0, 5.0], dtype=torch.float64)[:, None]
    v = torch.tensor([0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2], dtype=torch.float64)[:, None]
    term = torch.tensor([0, 0, 0, 0, 1, 0, 0], dtype=torch.bool)[:, None]
    trunc = torch.tensor([0, 1, 0, 0, 0, 0, 0], dtype=torch.bool)[:, None]
    adv, ret, valid = ops.gae(r, v, term, trunc, torch.tensor([False]), g, lam)
    d1 = 2.0 + g * 0.7 - 0.6
    d0 = 1.0 + g * 0.6 - 0.5
    d4 = 4.0 - 0.9
    d3 = 3.0 + g * 0.9 - 0.8
    d6 = 5.0 + g * 1.2 - 1.1
    expect = torch.tensor([d0 + g * lam * d1, d1, 0.0, d3 + g * lam * d4, d4, 0.0, d6],
                          dtype=torch.float64)[:, None]
    torch.testing.assert_close(adv, expect)
    assert valid[:, 0].tolist() == [True, True, False, True, True, False, True]
    torch.testing.assert_close(ret[2, 0], v[2, 0])
    torch.testing.assert_close(ret[5, 0], v[5, 0])


def test_lam_one_gives_n_step_returns():
    # A3C: R_t = r_t + gamma r_{t+1} + ... + gamma^k V(s_{t+k}), cut at episode ends.
    g = 0.95
    rewards, values, term, trunc, prev = _case(11, 30, 3, 0.1, 0.05, 0.3)
    _, ret, valid = ops.gae(rewards, values, term, trunc, prev, g, 1.0)
    T, N = rewards.shape
    for n in range(N):
        R = values[T, n].item()
        for t in reversed(range(T)):
            if term[t, n]:
                R = rewards[t, n].item()
            elif trunc[t, n]:
                R = rewards[t, n].item() + g * values[t + 1, n].item()
            else:
                R = rewards[t, n].item() + g * R
            if valid[t, n]:
                assert ret[t, n].item() == pytest.approx(R, rel=1e-12, abs=1e-12)


def test_prev_done_makes_step_zero_a_reset_step():
    rewards, values, term, trunc, _ = _case(5, 6, 4, 0.0, 0.0, 0.0)
    prev = torch.tensor([True, False, True, False])
    adv, ret, valid = ops.gae(rewards, values, term, trunc, prev, 0.99, 0.95)
    assert valid[0].tolist() == [False, True, False, True]
    assert valid[1:].all()
    assert torch.equal(ret[0, prev], values[0, prev])


def test_flags_accept_bool_or_01():
    rewards, values, term, trunc, prev = _case(7, 9, 3, 0.2, 0.2, 0.5)
    want = ops.gae(rewards, values, term, trunc, prev, 0.99, 0.9)
    for cast in (torch.uint8, torch.int64, torch.float32):
        got = ops.gae(rewards, values, term.to(cast), trunc.to(cast), prev.to(cast), 0.99, 0.9)
        for a, b in zip(got, want):
            assert torch.equal(a, b)
    with pytest.raises(ValueError, match="terminated"):
        ops.gae(rewards, values, term.long() * 2, trunc, prev, 0.99, 0.9)


def test_float32_rewards_with_float64_values():
    rewards, values, term, trunc, prev = _case(8, 9, 3, 0.2, 0.2, 0.5)
    adv, _, _ = ops.gae(rewards.float(), values, term, trunc, prev, 0.9, 0.9)
    assert adv.dtype == torch.float64


@pytest.mark.parametrize("gamma,lam,name", [(-0.1, 0.5, "gamma"), (1.5, 0.5, "gamma"),
                                            (0.9, -1.0, "lam"), (0.9, 1.01, "lam"),
                                            (float("nan"), 0.5, "gamma")])
def test_gamma_lam_range(gamma, lam, name):
    args = _case(1, 4, 2, 0.1, 0.1, 0.1)
    with pytest.raises(ValueError, match=name):
        ops.gae(*args, gamma, lam)


def test_shape_and_dtype_errors_name_the_argument():
    r, v, te, tr, pd = _case(1, 5, 3, 0.1, 0.1, 0.1)
    with pytest.raises(RuntimeError, match="values must have shape"):
        ops.gae(r, v[:-1], te, tr, pd, 0.9, 0.9)
    with pytest.raises(RuntimeError, match="truncated must have shape"):
        ops.gae(r, v, te, tr[:, :2], pd, 0.9, 0.9)
    with pytest.raises(RuntimeError, match="prev_done must have shape"):
        ops.gae(r, v, te, tr, pd[:2], 0.9, 0.9)
    with pytest.raises(RuntimeError, match="rewards must have shape"):
        ops.gae(r[0], v, te, tr, pd, 0.9, 0.9)
    with pytest.raises(TypeError, match="values"):
        ops.gae(r, v.long(), te, tr, pd, 0.9, 0.9)
    # The compiled op checks on its own too (it is callable without the wrapper).
    C = ops._ext()
    with pytest.raises(RuntimeError, match="terminated must be bool"):
        C.gae(r, v, te.long(), tr, pd, 0.9, 0.9)
    with pytest.raises(RuntimeError, match="same dtype"):
        C.gae(r.float(), v, te, tr, pd, 0.9, 0.9)
    with pytest.raises(RuntimeError, match="rewards must be contiguous"):
        C.gae(r.t().contiguous().t(), v, te, tr, pd, 0.9, 0.9)


def test_empty_rollout():
    adv, ret, valid = ops.gae(torch.zeros(0, 3), torch.zeros(1, 3), torch.zeros(0, 3).bool(),
                              torch.zeros(0, 3).bool(), torch.zeros(3).bool(), 0.9, 0.9)
    assert adv.shape == (0, 3)


def test_numpy_baseline_of_the_benchmark_agrees():
    args = _case(13, 64, 16, 0.05, 0.05, 0.3)
    want = ops.gae_reference(*args, 0.99, 0.95)
    got = gae_numpy(*(a.numpy() for a in args), 0.99, 0.95)
    np.testing.assert_allclose(got[0], want[0].numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got[1], want[1].numpy(), rtol=1e-10, atol=1e-10)
    assert np.array_equal(got[2], want[2].numpy())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), T=st.integers(0, 12), N=st.integers(0, 5))
def test_rollout_masks_match_reference(seed, T, N):
    g = torch.Generator().manual_seed(seed)
    term, trunc = torch.rand(T, N, generator=g) < 0.3, torch.rand(T, N, generator=g) < 0.2
    pd, prs = torch.rand(N, generator=g) < 0.5, torch.rand(N, generator=g) < 0.5
    got = ops.rollout_masks(term, trunc, pd, prs)
    want = ops.rollout_masks_reference(term, trunc, pd, prs)
    assert got[0].shape == want[0].shape == (T, N)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    if T and N:  # reset_step is exactly what gae calls not valid
        _, _, valid = ops.gae(torch.zeros(T, N), torch.zeros(T + 1, N), term, trunc, pd, 0.9, 0.9)
        assert torch.equal(got[0], ~valid)


def test_rollout_masks_of_an_empty_chunk_do_not_crash():
    # T = 0 wrote N values into empty outputs (exit 139); in a child process, so a crash fails this test only
    import subprocess
    import sys

    code = ("import torch; from pyrl import ops; z = torch.zeros(0, 3, dtype=torch.bool); p = torch.ones(3, "
            "dtype=torch.bool); rs, r = ops.rollout_masks(z, z, p, p); print(tuple(rs.shape), tuple(r.shape))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.split() == ["(0,", "3)", "(0,", "3)"], (out.returncode, out.stderr)
