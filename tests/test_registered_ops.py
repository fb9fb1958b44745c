"""The ops registered with torch's dispatcher (csrc/registration.cpp, torch.ops.pyrl.*):
torch.library.opcheck on each (schema, fake kernel, autograd registration, AOT dispatch),
and torch.compile(fullgraph=True) of a module that uses LNGRU, forward and backward, with
no graph break and the same gradients as eager (issue 24)."""
import gymnasium
import pytest
import torch

from lngru_cases import NORMS, make_inputs, make_params
from pyrl import ops
from pyrl.nn import LNGRU, ActorCritic


def _lngru_args(norm, T=4, B=3, I=5, H=6, dtype=torch.float64):
    p = make_params(I, H, norm, dtype=dtype)
    x, h0, reset = make_inputs(T, B, I, H, dtype=dtype)
    return [x, h0, reset, *p, 1e-5, norm]


@pytest.mark.parametrize("norm", NORMS)
def test_opcheck_lngru_sequence(norm):
    torch.library.opcheck(torch.ops.pyrl.lngru_sequence.default, _lngru_args(norm))


@pytest.mark.parametrize("norm", NORMS)
def test_opcheck_lngru_forward_and_backward(norm):
    args = [a.detach() if isinstance(a, torch.Tensor) else a for a in _lngru_args(norm)]
    fwd = torch.ops.pyrl.lngru_forward.default
    torch.library.opcheck(fwd, args)
    x, h0, reset, w_ih, w_hh, b_ih, b_hh, g_ih, g_hh, eps, _ = args
    out, xhat, hhat, rstd, gates = fwd(*args)
    g = torch.Generator().manual_seed(3)
    bwd_args = [torch.randn(out.shape, generator=g, dtype=out.dtype), torch.randn(h0.shape, generator=g, dtype=out.dtype),
                x, h0, reset, w_ih, w_hh, b_hh, g_ih, g_hh, out, xhat, hhat, rstd, gates, norm]
    torch.library.opcheck(torch.ops.pyrl.lngru_backward.default, bwd_args)


@pytest.mark.parametrize("discrete, separate, rnn, norm", [(True, True, True, "layernorm"), (False, False, True, "rmsnorm"),
                                                           (True, False, False, "batchnorm"), (False, True, False, "none")])
def test_opcheck_act_step(discrete, separate, rnn, norm):
    torch.manual_seed(0)
    space = gymnasium.spaces.Discrete(3) if discrete else gymnasium.spaces.Box(-1, 1, (3,))
    model = ActorCritic((4,), space, hidden=8, rnn=rnn, norm=norm, separate_critic=separate)
    trunks, heads, fnorm, cnorm, feps, ceps = model._act_params()
    params = [None if t is None else t.detach() for tr in trunks for t in tr] + \
             [None if t is None else t.detach() for t in heads]
    N = 5
    noise = torch.rand(N, 1) if discrete else torch.randn(N, 3)
    args = [torch.randn(N, 4), torch.randn(N, model.initial_state(N).shape[1]), torch.rand(N) < 0.3, noise,
            params, len(trunks), fnorm, cnorm, feps, ceps]
    torch.library.opcheck(torch.ops.pyrl.act_step.default, args)


def test_opcheck_rollout_ops():
    T, N = 6, 4
    g = torch.Generator().manual_seed(0)
    term, trunc = torch.rand(T, N, generator=g) < 0.2, torch.rand(T, N, generator=g) < 0.1
    prev = torch.rand(N, generator=g) < 0.5
    torch.library.opcheck(torch.ops.pyrl.gae.default, [torch.randn(T, N, dtype=torch.float64),
                                                       torch.randn(T + 1, N, dtype=torch.float64), term, trunc, prev,
                                                       0.99, 0.95])
    torch.library.opcheck(torch.ops.pyrl.rollout_masks.default, [term, trunc, prev, torch.rand(N, generator=g) < 0.5])


class _Net(torch.nn.Module):
    def __init__(self, norm):
        super().__init__()
        self.gru = LNGRU(4, 8, norm=norm)
        self.head = torch.nn.Linear(8, 2)

    def forward(self, x, h0, reset):
        out, h = self.gru(x, h0, reset)
        return self.head(out).pow(2).mean() + h.sum()


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compiling_a_module_with_lngru_makes_one_graph_with_the_fused_op(backend):
    torch.manual_seed(0)
    norm = "layernorm" if backend == "inductor" else "rmsnorm"
    net = _Net(norm)
    x, h0, reset = torch.randn(5, 3, 4), torch.randn(3, 8), torch.rand(5, 3) < 0.3
    graphs = []

    def recording(gm, example_inputs):
        graphs.append(str(gm.graph))
        return torch._dynamo.lookup_backend(backend)(gm, example_inputs)

    torch._dynamo.reset()
    compiled = torch.compile(net, fullgraph=True, backend=recording)  # a graph break raises
    loss = compiled(x, h0, reset)
    loss.backward()
    got = [p.grad.clone() for p in net.parameters()]
    assert len(graphs) == 1 and "torch.ops.pyrl.lngru_sequence" in graphs[0]
    net.zero_grad()
    want_loss = net(x, h0, reset)
    want_loss.backward()
    torch.testing.assert_close(loss, want_loss, rtol=1e-6, atol=1e-6)
    for g, p in zip(got, net.parameters()):
        torch.testing.assert_close(g, p.grad, rtol=1e-5, atol=1e-6)


def test_the_registered_act_step_computes_what_the_eager_entry_does():
    torch.manual_seed(0)
    model = ActorCritic((4,), gymnasium.spaces.Discrete(2), hidden=8, rnn=True, norm="layernorm", separate_critic=True)
    trunks, heads, *rest = model._act_params()
    params = [*trunks[0], *trunks[1], *heads]
    args = (torch.randn(6, 4), torch.randn(6, 16), torch.rand(6) < 0.3, torch.rand(6, 1), params, 2, *rest)
    with torch.no_grad():
        for a, b in zip(torch.ops.pyrl.act_step(*args), ops._ext().act_step(*args)):
            assert torch.equal(a, b)


def test_opcheck_episode_stats():
    T, N = 6, 4
    g = torch.Generator().manual_seed(1)
    args = [torch.randn(T, N, generator=g), torch.rand(T, N, generator=g) < 0.3, torch.rand(T, N, generator=g) < 0.1,
            torch.rand(N, generator=g) < 0.5, torch.randn(N, generator=g, dtype=torch.float64),
            torch.arange(N, dtype=torch.int64), 7]
    torch.library.opcheck(torch.ops.pyrl.episode_stats.default, args)


@pytest.mark.parametrize("kind", ["adam", "rmsprop"])
def test_opcheck_optim_step(kind):
    g = torch.Generator().manual_seed(2)
    lists = [[torch.randn(n, generator=g, dtype=torch.float64) for n in (3, 257)] for _ in range(4)]
    params, grads, m, v = lists[0], lists[1], lists[2], [t.abs() for t in lists[3]]
    args = [params, grads, m if kind == "adam" else [], v, torch.zeros(1, dtype=torch.float64), kind,
            1e-2, 0.9, 0.999, 0.99, 1e-8, 7.27]
    torch.library.opcheck(torch.ops.pyrl.optim_step.default, args)


def test_the_registered_update_and_bookkeeping_equal_their_eager_entries():
    g = torch.Generator().manual_seed(3)
    make = lambda: [[torch.randn(n, generator=torch.Generator().manual_seed(i), dtype=torch.float32)  # noqa: E731
                     for n in (5, 300)] for i in range(4)]
    a, b = make(), make()
    for lists, call in ((a, torch.ops.pyrl.optim_step), (b, ops._ext().optim_step)):
        p, gr, m, v = lists
        call(p, gr, m, [t.abs() for t in v], torch.zeros(1, dtype=torch.float64), "adam", 1e-2, 0.9, 0.999, 0.99,
             1e-8, 7.27)
    assert all(torch.equal(x, y) for la, lb in zip(a, b) for x, y in zip(la, lb))
    T, N = 9, 3
    rew, term, trunc = torch.randn(T, N, generator=g), torch.rand(T, N, generator=g) < 0.3, torch.zeros(T, N, dtype=torch.bool)
    states = [(torch.zeros(N, dtype=torch.bool), torch.zeros(N, dtype=torch.float64), torch.zeros(N, dtype=torch.int64))
              for _ in range(2)]
    got = torch.ops.pyrl.episode_stats(rew, term, trunc, *states[0], 0)
    want = ops._ext().episode_stats(rew, term, trunc, *states[1], 0)
    assert all(torch.equal(x, y) for x, y in zip(got, want))
    assert all(torch.equal(x, y) for x, y in zip(*states))
