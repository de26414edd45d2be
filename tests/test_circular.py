"""``solution.circular``: the circular mapping, wrapped differences and decoding errors."""

import numpy as np
import pytest
import torch

from v1_orientation.solution.circular import (
    angles_to_circle,
    circle_to_angles,
    decoding_error_table,
    decoding_errors,
    orientation_difference,
)


def test_orientation_difference_wraps():
    np.testing.assert_allclose(orientation_difference([89, -89, 10, 90], [-89, 89, 0, -90]),
                               [-2, 2, 10, 0])
    np.testing.assert_allclose(orientation_difference(350, 10, period=360), -20)


def test_decoding_errors_closed_forms():
    true = np.array([-80.0, 0.0, 85.0, 30.0])
    pred = np.array([88.0, 2.0, -89.0, 20.0])
    errs = decoding_errors(torch.tensor(pred).unsqueeze(1), true)
    e = pred - true
    assert errs["mse"] == pytest.approx(np.mean(e**2))
    assert errs["rmse"] == pytest.approx(np.sqrt(np.mean(e**2)))
    c = np.array([-12.0, 2.0, 6.0, -10.0])
    assert errs["circ_rmse"] == pytest.approx(np.sqrt(np.mean(c**2)))
    assert errs["circ_median_abs"] == pytest.approx(np.median(np.abs(c)))
    with pytest.raises(ValueError, match="one each"):
        decoding_errors([1.0, 2.0], [1.0])


def test_decoding_errors_use_the_period_given():
    # directions (period 360): the circular errors wrap at +-180, not at +-90
    true = np.array([10.0, 350.0, 100.0, 0.0, 200.0])
    pred = np.array([350.0, 10.0, 300.0, 90.0, 25.0])
    errs = decoding_errors(pred, true, period=360)
    wrapped = np.array([-20.0, 20.0, -160.0, 90.0, -175.0])  # by hand
    assert errs["circ_rmse"] == pytest.approx(np.sqrt(np.mean(wrapped**2)))
    assert errs["circ_median_abs"] == pytest.approx(90.0)
    assert errs["mse"] == pytest.approx(np.mean((pred - true) ** 2))
    # the same numbers as orientations (period 180) wrap at +-90
    on_180 = np.array([-20.0, 20.0, 20.0, -90.0, 5.0])
    assert decoding_errors(pred, true)["circ_rmse"] == pytest.approx(
        np.sqrt(np.mean(on_180**2)))


@pytest.mark.parametrize("period, angle_min", [(180.0, -90.0), (360.0, 0.0), (180.0, 0.0),
                                               (180.0, -45.0)])
def test_circular_mapping_round_trips_every_angle(period, angle_min):
    theta = np.arange(angle_min, angle_min + period, 0.25)
    back = circle_to_angles(angles_to_circle(theta, period), period, angle_min)
    np.testing.assert_allclose(back, theta, atol=1e-9)
    # an angle one period away lands on the same point
    np.testing.assert_allclose(angles_to_circle(theta + period, period),
                               angles_to_circle(theta, period), atol=1e-12)
    # output range is [angle_min, angle_min + period)
    wrapped = circle_to_angles(angles_to_circle([angle_min + period], period), period,
                                  angle_min)
    np.testing.assert_allclose(wrapped, [angle_min], atol=1e-9)


def test_decoding_error_table_holds_the_errors():
    rng = np.random.default_rng(1)
    errors = {(name, split): decoding_errors(rng.uniform(-90, 90, 20), rng.uniform(-90, 90, 20))
              for name in ("untrained", "trained") for split in ("train", "test")}
    table = decoding_error_table(errors)
    values = table.values()
    assert values["columns"] == ["decoder", "set", "MSE (deg^2)", "RMSE (deg)",
                                 "circular RMSE (deg)", "circular median |err| (deg)"]
    assert table.title == "" and table.formats["MSE (deg^2)"] == ".1f"
    for row, ((name, split), e) in zip(values["data"], errors.items(), strict=True):
        assert row == [name, split, e["mse"], e["rmse"], e["circ_rmse"], e["circ_median_abs"]]
