"""RSA controls: the CNN before training and CNNs with random weights, against V1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from v1_orientation._internal import _as_numpy
from v1_orientation.course.networks import CNN, get_hidden_activity
from v1_orientation.course.rdm import RDM, compare_rdms
from v1_orientation.course.stimuli import gratings
from v1_orientation.solution.rsa_inference import _MEASURES
from v1_orientation.solution.tables import ResultTable

__all__ = [
    "initial_cnn", "network_rdms", "random_network_similarity", "random_network_table",
]


def initial_cnn(h_in, w_in, seed=12, random_conv=False):
    """A ``CNN`` as initialised, never trained: the controls for RSA.

    With ``random_conv=False`` the network equals the template's before
    ``train`` (cell C1 seeds torch with 12, then builds ``CNN(h, w)``): the
    designed ``filters()`` in the convolution, random fully connected layers.
    With ``random_conv=True`` the convolution is re-initialised too
    (PyTorch's default Kaiming-uniform weights and uniform bias), so every
    layer is random and only the architecture is left. The global random
    state is restored afterwards, so the notebook's later draws do not change.

    Args:
        h_in (int): image height, pixels.
        w_in (int): image width, pixels.
        seed (int): torch seed before the network is built.
        random_conv (bool): re-initialise the convolution at random.

    Returns:
        CNN: the network, in eval mode, on the CPU.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = CNN(h_in, w_in)
        if random_conv:
            net.conv.reset_parameters()
    return net.eval()


def network_rdms(net, orientations, layers=("pool", "fc"), images=None):
    """RDMs of a network's layers for gratings at the given orientations.

    Args:
        net (nn.Module): e.g. a ``CNN``.
        orientations (array-like): S grating orientations, degrees (as ``gratings``).
        layers (sequence of str): names of layers to read (``get_hidden_activity``).
        images (torch.Tensor): the S x h x w gratings of ``orientations``, if
            already made (default: ``gratings(orientations)``).

    Returns:
        dict: ``{layer: S x S RDM}``.
    """
    orientations = np.asarray(_as_numpy(orientations), dtype=np.float64).reshape(-1)
    if images is None:
        images = gratings(orientations)
    elif images.shape[0] != orientations.size:
        raise ValueError(f"{images.shape[0]} images for {orientations.size} orientations")
    activity = get_hidden_activity(net, images, list(layers))
    return {layer: RDM(activity[layer]) for layer in layers}


def random_network_similarity(rdm_ref, h_in, w_in, orientations, n_nets, images=None,
                              methods=("pearson", "spearman"), layers=("pool", "fc")):
    """Similarity to a reference RDM of the layers of CNNs with all weights random.

    Network ``k`` is ``initial_cnn(h_in, w_in, seed=k, random_conv=True)``.

    Args:
        rdm_ref (ndarray): S x S reference RDM.
        h_in (int): image height, pixels.
        w_in (int): image width, pixels.
        orientations (array-like): the S grating orientations, degrees.
        n_nets (int): number of random networks.
        images (torch.Tensor or None): the S gratings, if already made.
        methods (sequence of str): similarity measures (``compare_rdms``).
        layers (sequence of str): layers to read.

    Returns:
        dict: measure -> (n_nets, len(layers)) similarities.
    """
    out = {m: np.empty((n_nets, len(layers))) for m in methods}
    for k in range(n_nets):
        rdms = network_rdms(initial_cnn(h_in, w_in, seed=k, random_conv=True), orientations,
                            layers, images)
        for m in methods:
            out[m][k] = [compare_rdms(rdm_ref, rdms[layer], m) for layer in layers]
    return out


def random_network_table(similarity, reference=None, layers=("pool", "fc"), title=""):
    """Spread of the random networks' similarity, and how many reach a reference value.

    Args:
        similarity (dict): ``random_network_similarity`` output.
        reference (dict or None): measure -> a similarity (e.g. the untrained designed
            network's 'pool'); counts the random networks at or above it in the first layer.
        layers (sequence of str): the layers, in the order of ``similarity``'s columns.
        title (str): line above the table.

    Returns:
        ResultTable: one row per (measure, layer): mean, SD, min and max over the
        networks, and the count reaching the reference (first layer only).
    """
    rows, index = [], []
    for method, values in similarity.items():
        for k, layer in enumerate(layers):
            v = values[:, k]
            row = {"mean": v.mean(), "SD": v.std(), "min": v.min(), "max": v.max()}
            if reference is not None:
                row["reference"] = reference[method] if k == 0 else np.nan
                row["nets reaching it"] = int(np.sum(v >= reference[method])) if k == 0 \
                    else np.nan
            rows.append(row)
            index.append((_MEASURES[method], layer))
    frame = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["measure",
                                                                             "layer"]))
    formats = dict.fromkeys(frame.columns, ".3f") | {"nets reaching it": ".0f"}
    return ResultTable(frame, formats, title)
