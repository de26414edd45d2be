"""Published numbers the answers compare with, in one place (sources in each comment).

Numbers measured on the real recording by the class or a completed solution, and the paper's
result. They are constants of the literature, not of any data file this package loads.
"""

from __future__ import annotations

__all__ = [
    "CNN_TRAINING_LOG", "CLASS_DECODER_LOG", "CLASS_RDM_CORRELATIONS", "STUDENT_ADAM_TABLE",
    "STUDENT_UNTRAINED_TEST_MSE", "STRINGER_THRESHOLD_DEG", "STRINGER_PREPRINT_THRESHOLD_DEG",
]

# The class's log of the template's cell C1 (loss on the last mini-batch at epochs 5..25).
CNN_TRAINING_LOG = {5: 4.10e-01, 10: 5.17e-02, 15: 1.32e-02, 20: 2.27e-03, 25: 8.15e-05}
# The class decoder (DeepNetReLU(23589, 10), SGD lr 1e-4) on the real recording, labels 0..359,
# 216 training stimuli: MSE loss at iterations 10..50.
CLASS_DECODER_LOG = {10: 12219.761, 20: 1672.732, 30: 548.096, 40: 235.619, 50: 144.001}
# Pearson correlation of the upper-triangle RDMs with V1's, template cells C1/C2, real recording.
CLASS_RDM_CORRELATIONS = {"pool": 0.717, "fc": 0.565}
# A completed solution's Adam MLP decoders on the real recording: test MSE (deg^2) on the class
# split of the 181 stimuli, by (hidden units, weight decay); and its untrained DeepNetReLU.
STUDENT_ADAM_TABLE = {
    (100, 0.005): 26.29, (100, 0.01): 26.16, (100, 0.02): 26.05, (100, 0.05): 24.92,
    (150, 0.005): 22.55, (150, 0.01): 23.57, (150, 0.02): 26.26, (150, 0.05): 26.39,
    (200, 0.005): 26.79, (200, 0.01): 25.69, (200, 0.02): 25.05, (200, 0.05): 23.94,
}
STUDENT_UNTRAINED_TEST_MSE = 2520.47
# Stringer et al. (2021, Cell 184): population orientation discrimination threshold, V1
# (single trials, up to 50,000 neurons); the preprint (bioRxiv 679324, ~20,000 neurons).
STRINGER_THRESHOLD_DEG = 0.35
STRINGER_PREPRINT_THRESHOLD_DEG = 0.34
