"""``solution.rsa_controls``: the untrained and random CNNs, against the template's network."""

import numpy as np
import pytest
import torch

from v1_orientation.course.networks import CNN, get_hidden_activity
from v1_orientation.course.rdm import RDM, compare_rdms
from v1_orientation.course.stimuli import filters, grating, gratings
from v1_orientation.solution.rsa_controls import (
    initial_cnn,
    network_rdms,
    random_network_similarity,
    random_network_table,
)


def test_initial_cnn_is_the_template_network_before_training():
    h, w = grating(0).shape
    torch.manual_seed(12)
    template = CNN(h, w)
    state = torch.get_rng_state()
    net = initial_cnn(h, w)
    assert torch.equal(torch.get_rng_state(), state)  # the global random state is untouched
    for key, value in template.state_dict().items():
        assert torch.equal(net.state_dict()[key], value), key
    assert torch.equal(net.conv.weight, filters())


def test_random_cnn_has_random_filters():
    h, w = grating(0).shape
    designed = initial_cnn(h, w, seed=3)
    random_a = initial_cnn(h, w, seed=3, random_conv=True)
    random_b = initial_cnn(h, w, seed=4, random_conv=True)
    assert not torch.allclose(random_a.conv.weight, designed.conv.weight)
    assert not torch.allclose(random_a.conv.weight, random_b.conv.weight)
    assert torch.any(random_a.conv.bias != 0)
    # PyTorch's default conv init: uniform within 1/sqrt(fan_in) = 1/7
    assert random_a.conv.weight.abs().max() <= 1 / 7
    assert torch.equal(random_a.fc.weight, designed.fc.weight)  # same seed, same fc init


def test_network_rdms_match_template_stimuli_and_rdm():
    h, w = grating(0).shape
    net = initial_cnn(h, w)
    ori = np.arange(-90.0, 91.0, 15.0)
    rdms = network_rdms(net, ori)
    stimuli = torch.stack([grating(a) for a in ori])
    hidden = get_hidden_activity(net, stimuli, ["pool", "fc"])
    assert list(rdms) == ["pool", "fc"]
    for layer in ("pool", "fc"):
        np.testing.assert_allclose(rdms[layer], RDM(hidden[layer]), atol=1e-12)
    given = network_rdms(net, ori, images=stimuli)
    for layer in ("pool", "fc"):
        np.testing.assert_array_equal(given[layer], rdms[layer])
    with pytest.raises(ValueError, match="images"):
        network_rdms(net, ori[:-1], images=stimuli)


def test_random_network_similarity_and_table():
    orientations = np.linspace(-80, 80, 9)
    images = gratings(orientations)
    h, w = images.shape[1:]
    ref = RDM(images.reshape(9, -1).numpy() + 0.0)
    found = random_network_similarity(ref, h, w, orientations, 2, images=images,
                                         methods=("pearson",))
    for k in range(2):
        rdms = network_rdms(initial_cnn(h, w, seed=k, random_conv=True), orientations)
        assert found["pearson"][k].tolist() == pytest.approx(
            [compare_rdms(ref, rdms[layer]) for layer in ("pool", "fc")])
    values = random_network_table(found, {"pearson": found["pearson"][0, 0]}).values()
    pool = dict(zip(values["columns"], values["data"][0], strict=True))
    v = found["pearson"][:, 0]
    assert [pool["mean"], pool["SD"], pool["min"], pool["max"]] == pytest.approx(
        [v.mean(), v.std(), v.min(), v.max()])
    assert pool["nets reaching it"] == np.sum(v >= v[0])
    fc = dict(zip(values["columns"], values["data"][1], strict=True))
    assert fc["layer"] == "fc" and fc["nets reaching it"] is None
