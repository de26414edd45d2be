"""The assignment's helpers, in one flat module: ``from ccn_helpers import *``.

A face: every name is defined in the course layer of the ``v1_orientation`` package and
re-exported here, so that the template's cells run unchanged. The template's seven helpers
keep their names, signatures and default behaviour, with the template's bugs fixed.

==========================  ==============================================================
module                      names
==========================  ==============================================================
``course.runtime``          ``set_seed``, ``get_device``
``course.recording``        ``load_data``, ``load_recording``, ``split_train_test``,
                            ``get_data``, ``describe_stimuli``, ``trials_per_bin``,
                            ``RECORDING_TRIALS``, ``RECORDING_BINS``
``course.provenance``       ``DataFile``, ``data_provenance``, ``use_data_file``
``course.download``         ``fetch_data``, ``DataUnavailableError``, ``SurrogateDataWarning``
``course.surrogate``        ``simulate_stringer``, ``SURROGATE_VERSION``
``course.stimuli``          ``grating``, ``gratings``, ``filters``
``course.networks``         ``DeepNetReLU``, ``CNN``, ``get_hidden_activity``
``course.training``         ``train``, ``train_decoder``, ``predict``
``course.rdm``              ``RDM``, ``compare_rdms``, ``upper_triangle``
==========================  ==============================================================

It also exports the template's own imports (``np``, ``torch``, ``nn``, ``optim``), which its
cells use. The solution's library (``v1_orientation.solution``) is not re-exported here.
"""

import numpy as np
import torch
from torch import nn, optim

import v1_orientation
from v1_orientation.course.download import DataUnavailableError, SurrogateDataWarning, fetch_data
from v1_orientation.course.networks import CNN, DeepNetReLU, get_hidden_activity
from v1_orientation.course.provenance import DataFile, data_provenance, use_data_file
from v1_orientation.course.rdm import RDM, compare_rdms, upper_triangle
from v1_orientation.course.recording import (
    RECORDING_BINS,
    RECORDING_TRIALS,
    describe_stimuli,
    get_data,
    load_data,
    load_recording,
    split_train_test,
    trials_per_bin,
)
from v1_orientation.course.runtime import get_device, set_seed
from v1_orientation.course.stimuli import filters, grating, gratings
from v1_orientation.course.surrogate import SURROGATE_VERSION, simulate_stringer
from v1_orientation.course.training import predict, train, train_decoder

# The version of the package this face was written for: a ccn_helpers.py left over from
# another release (next to a notebook, say) must not silently meet a different package.
__version__ = "1.0.0"
if v1_orientation.__version__ != __version__:
    raise ImportError(
        f"ccn_helpers.py (version {__version__}, at {__file__}) does not match the installed "
        f"v1_orientation package (version {v1_orientation.__version__}). Delete the stale file "
        "or install the matching helpers (`pip install` the wheel of the same release), then "
        "restart the kernel."
    )

__all__ = [
    # course.runtime
    "set_seed", "get_device",
    # course.recording
    "load_data", "load_recording", "split_train_test", "get_data", "describe_stimuli",
    "trials_per_bin", "RECORDING_TRIALS", "RECORDING_BINS",
    # course.provenance and course.download
    "DataFile", "data_provenance", "use_data_file",
    "fetch_data", "DataUnavailableError", "SurrogateDataWarning",
    # course.surrogate
    "simulate_stringer", "SURROGATE_VERSION",
    # course.stimuli, course.networks, course.training
    "grating", "gratings", "filters",
    "DeepNetReLU", "CNN", "get_hidden_activity",
    "train", "train_decoder", "predict",
    # course.rdm
    "RDM", "compare_rdms", "upper_triangle",
    # the template's imports
    "np", "torch", "nn", "optim",
]
