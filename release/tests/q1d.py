"""Checks of 1d: the RDMs and their correlations with V1's, recomputed from the student's RDMs."""

CONFIG = {
    "test_one_rdm_per_representation": {
        "points": 1, "failure_message": "rdm_dict should hold one S x S RDM per entry of "
        "resp_dict: rdm_dict = {label: RDM(resp) for label, resp in resp_dict.items()}"},
    "test_the_rdms_are_rdms_of_the_responses": {"points": 1, "hidden": True},
    "test_the_correlations_leave_the_diagonal_out": {"points": 1, "hidden": True},
    "test_the_more_v1_like_layer_is_the_higher_correlation": {"points": 1, "hidden": True},
}


def test_one_rdm_per_representation(rdm_dict, resp_dict):
    import numpy as np

    assert set(rdm_dict) == set(resp_dict)
    for label, rdm in rdm_dict.items():
        n = len(resp_dict[label])
        assert np.shape(rdm) == (n, n), label


def test_the_rdms_are_rdms_of_the_responses(env):
    import numpy as np

    for label, resp in env["resp_dict"].items():
        rdm = np.asarray(env["rdm_dict"][label], dtype=float)
        x = np.asarray(resp, dtype=float)
        assert np.allclose(rdm, rdm.T, atol=1e-6) and np.allclose(np.diag(rdm), 0, atol=1e-5)
        assert np.allclose(rdm, 1 - np.corrcoef(x), atol=1e-4), label


def test_the_correlations_leave_the_diagonal_out(env):
    import numpy as np

    rdms = {k: np.asarray(r, dtype=float) for k, r in env["rdm_dict"].items()}
    v1 = rdms["V1 data"]  # the labels of the template's cell C2
    layers = {name: rdms[f"model\n'{name}' layer"] for name in ("pool", "fc")}
    upper = np.triu_indices_from(v1, k=1)
    for name, rdm in layers.items():
        expected = np.corrcoef(v1[upper], rdm[upper])[0, 1]
        assert abs(float(env["rdm_correlations"][name]) - expected) < 1e-6, (name, expected)


def test_the_more_v1_like_layer_is_the_higher_correlation(env):
    correlations = env["rdm_correlations"]
    assert env["more_v1_like"] == max(("pool", "fc"), key=lambda k: float(correlations[k]))
