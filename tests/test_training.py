"""``course.training``: train (the template's CNN trainer), train_decoder (the class's), predict."""

import contextlib
import io

import numpy as np
import pytest
import template_oracle as oracle
import torch
from torch import nn

from v1_orientation.course.networks import CNN, DeepNetReLU, get_hidden_activity
from v1_orientation.course.stimuli import gratings
from v1_orientation.course.training import predict, train, train_decoder


def test_predict_matches_a_no_grad_forward_pass():
    torch.manual_seed(0)
    net = DeepNetReLU(5, 3)
    x = torch.randn(10, 5)
    out = predict(net, x, batch_size=3)
    assert isinstance(out, np.ndarray) and out.shape == (10, 1)
    with torch.no_grad():
        np.testing.assert_allclose(out, net(x).numpy(), rtol=1e-6)


def run_printing(fn, *args, **kwargs):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = fn(*args, **kwargs)
    return result, out.getvalue()


def tilt_batch(angles):
    angles = np.asarray(angles, dtype=float)
    return gratings(angles), torch.tensor(angles > 0, dtype=torch.float32).unsqueeze(1)


def class_decoder_train(net, loss_fn, train_data, train_labels, n_epochs=50,
                        learning_rate=1e-4):
    """The class's decoder trainer, verbatim (for n_epochs >= 5)."""
    optimizer = torch.optim.SGD(net.parameters(), lr=learning_rate)
    track_loss = []
    for i in range(n_epochs):
        out = net(train_data)
        loss = loss_fn(out, train_labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        track_loss.append(loss.item())
        if (i + 1) % (n_epochs // 5) == 0:
            print(f'iteration {i + 1}/{n_epochs} | loss: {loss.item():.3f}')
    return track_loss


def test_train_overfits_a_tiny_batch():
    torch.manual_seed(0)
    net = CNN(48, 64)
    data, labels = tilt_batch([-60, -40, -20, -5, 5, 20, 40, 60])
    train(net, data, labels, n_epochs=150, learning_rate=0.002, batch_size=8, quiet=True)
    with torch.no_grad():
        prob = net(data)
    assert torch.equal((prob > 0.5).float(), labels)
    assert net.loss_history[-1] < 0.05


@pytest.mark.parametrize("n_epochs", [1, 2, 3, 4])
def test_train_with_fewer_than_five_epochs_prints_every_epoch(n_epochs):
    torch.manual_seed(0)
    net = CNN(48, 64)
    data, labels = tilt_batch(np.linspace(-80, 80, 30))
    result, printed = run_printing(train, net, data, labels, n_epochs=n_epochs, batch_size=10)
    assert result is None  # so that a bare call (cell C1) displays nothing
    lines = printed.strip().splitlines()
    assert [line.split(" |")[0] for line in lines[:-1]] == [
        f"epoch {i}" for i in range(1, n_epochs + 1)]
    assert lines[-1] == "training done!"
    assert len(net.loss_history) == 3 * n_epochs
    assert all(isinstance(v, float) for v in net.loss_history)


def test_train_quiet_prints_nothing():
    net = CNN(48, 64)
    data, labels = tilt_batch([-10, 10])
    _, printed = run_printing(train, net, data, labels, n_epochs=2, quiet=True)
    assert printed == ""


def test_train_history_and_log_match_the_template():
    data, labels = tilt_batch(np.linspace(-85, 85, 60))
    torch.manual_seed(3)
    ours = CNN(48, 64)
    _, printed_ours = run_printing(train, ours, data, labels, n_epochs=10, batch_size=20)
    torch.manual_seed(3)
    theirs = oracle.CNN(48, 64)
    _, printed_theirs = run_printing(oracle.train, theirs, data, labels, n_epochs=10,
                                     batch_size=20)
    assert printed_ours == printed_theirs
    last = float(printed_ours.strip().splitlines()[-2].split(":")[1])
    assert ours.loss_history[-1] == pytest.approx(last, rel=0.01)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("trainer", ["train", "train_decoder"])
def test_trainers_reject_mismatched_lengths(trainer):
    if trainer == "train":
        data, labels = tilt_batch([-10, 10, 20])
        call = lambda: train(CNN(48, 64), data, labels[:2])  # noqa: E731
    else:
        call = lambda: train_decoder(  # noqa: E731
            DeepNetReLU(4, 2), nn.MSELoss(), torch.zeros(5, 4), torch.zeros(4, 1))
    with pytest.raises(ValueError, match="one label per sample"):
        call()


@pytest.mark.parametrize("n_epochs", [0, -3, 2.5])
def test_trainers_reject_bad_epoch_counts(n_epochs):
    with pytest.raises(ValueError, match="n_epochs"):
        train_decoder(DeepNetReLU(4, 2), nn.MSELoss(), torch.zeros(5, 4),
                         torch.zeros(5, 1), n_epochs=n_epochs)


def test_train_decoder_matches_the_class_trainer():
    data = torch.randn(30, 12)
    labels = (data[:, :1] * 40 + 90).detach()
    torch.manual_seed(1)
    ours = DeepNetReLU(12, 10)
    history, printed = run_printing(train_decoder, ours, nn.MSELoss(), data, labels)
    torch.manual_seed(1)
    theirs = DeepNetReLU(12, 10)
    history_ref, printed_ref = run_printing(class_decoder_train, theirs, nn.MSELoss(), data,
                                            labels)
    assert history == history_ref and printed == printed_ref
    assert len(printed.splitlines()) == 5 and printed.startswith("iteration 10/50 | loss: ")


def test_train_decoder_overfits_a_tiny_batch():
    torch.manual_seed(0)
    data = torch.randn(6, 20)
    labels = torch.linspace(-1, 1, 6).unsqueeze(1)
    net = DeepNetReLU(20, 64)
    history = train_decoder(net, nn.MSELoss(), data, labels, n_epochs=2000,
                               learning_rate=0.05, quiet=True)
    assert len(history) == 2000
    assert history[-1] < 1e-4 * history[0]


@pytest.mark.parametrize("n_epochs", [1, 4])
def test_train_decoder_with_few_epochs(n_epochs):
    history, printed = run_printing(train_decoder, DeepNetReLU(3, 2), nn.MSELoss(),
                                    torch.zeros(4, 3), torch.zeros(4, 1), n_epochs=n_epochs)
    assert len(history) == n_epochs and len(printed.splitlines()) == n_epochs


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_trainers_and_hidden_activity_on_cuda():
    device = torch.device("cuda")
    net = CNN(48, 64).to(device)
    data, labels = tilt_batch([-30, 30, -60, 60])
    train(net, data, labels, n_epochs=2, quiet=True)
    hidden = get_hidden_activity(net, data, ["pool", "fc"])
    assert hidden["pool"].shape == (4, 288)
    decoder = DeepNetReLU(5, 3).to(device)
    history = train_decoder(decoder, nn.MSELoss(), torch.randn(8, 5), torch.randn(8, 1),
                               n_epochs=5, quiet=True)
    assert len(history) == 5
